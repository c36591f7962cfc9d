// Made by the browser build (src/serve/build.ts): the experiment's plugin files, ref → dynamic import.
declare module 'digitbench:plugin-files' {
  export const pluginFiles: Readonly<Record<string, () => Promise<unknown>>>;
}
