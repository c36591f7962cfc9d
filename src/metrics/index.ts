export * from './accuracy.ts';
export * from './confusion.ts';
export * from './per-class.ts';
export * from './intervals.ts';
export * from './significance.ts';
export * from './pareto.ts';
