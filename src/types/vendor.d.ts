// CommonJS libraries without type declarations that the workbench's own code imports (its fitting code: the
// runtime imports none of them). Each importer casts the default export (module.exports) to the typed
// interface of the parts it uses. ml-naivebayes, a test oracle only, is required untyped by its test.
declare module 'ml-knn' {
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
