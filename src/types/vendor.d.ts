// CommonJS libraries without type declarations. Each plugin casts the default export (module.exports)
// to the typed interface of the parts it uses. Node and the browser build both load the package's
// "main" (CommonJS) file, the one patch-package patches (see src/serve/build.ts: mainFields).
declare module 'ml-knn' {
  const mod: unknown;
  export default mod;
}
declare module 'ml-naivebayes' {
  const mod: unknown;
  export default mod;
}
declare module 'ml-cart' {
  const mod: unknown;
  export default mod;
}
declare module 'libsvm-js' {
  const mod: unknown;
  export default mod;
}
