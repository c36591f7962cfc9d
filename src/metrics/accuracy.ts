/** Accuracy and the shared length check of every label-vs-label metric. */

/** Throws when the two label vectors cannot be compared. */
export function checkSameLength(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, what = 'predictions'): void {
  if (yTrue.length !== yPred.length) {
    throw new Error(`There are ${yPred.length} ${what} for ${yTrue.length} true labels; pass one per test row.`);
  }
}

export function correctCount(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkSameLength(yTrue, yPred);
  let c = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) c++;
  return c;
}

/** Fraction of rows predicted right; NaN for zero rows. */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  return yTrue.length === 0 ? (checkSameLength(yTrue, yPred), NaN) : correctCount(yTrue, yPred) / yTrue.length;
}
