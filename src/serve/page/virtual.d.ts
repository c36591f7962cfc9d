// Made by the browser build (src/serve/build.ts): the plugin files passed with --plugin, plugin name → dynamic import.
declare module 'digitbench:plugin-files' {
  export const pluginFiles: Readonly<Record<string, () => Promise<unknown>>>;
}
