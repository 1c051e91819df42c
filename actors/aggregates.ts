/**
 * An aggregate function for windows: folds values into an accumulator (a plain value, stored in the
 * snapshot), merges two accumulators (session windows merge), and reads the result.
 */
export interface Aggregate<V, A, R> {
  readonly name: string;
  init(): A;
  add(acc: A, value: V): A;
  merge(a: A, b: A): A;
  result(acc: A): R;
}

/**
 * Number of values.
 *
 * @example
 * windowOperator({ window: tumbling(60_000), aggregate: count() });
 */
export function count(): Aggregate<unknown, number, number> {
  return { name: "count", init: () => 0, add: (a) => a + 1, merge: (a, b) => a + b, result: (a) => a };
}

/** Sum of the values. */
export function sum(): Aggregate<number, number, number> {
  return { name: "sum", init: () => 0, add: (a, v) => a + v, merge: (a, b) => a + b, result: (a) => a };
}

/** Smallest value (`null` for an empty window). */
export function min(): Aggregate<number, number | null, number | null> {
  const pick = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  return { name: "min", init: () => null, add: pick, merge: pick, result: (a) => a };
}

/** Largest value (`null` for an empty window). */
export function max(): Aggregate<number, number | null, number | null> {
  const pick = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
  return { name: "max", init: () => null, add: pick, merge: pick, result: (a) => a };
}

/** Arithmetic mean (`null` for an empty window). */
export function avg(): Aggregate<number, { s: number; n: number }, number | null> {
  return {
    name: "avg",
    init: () => ({ s: 0, n: 0 }),
    add: (a, v) => ({ s: a.s + v, n: a.n + 1 }),
    merge: (a, b) => ({ s: a.s + b.s, n: a.n + b.n }),
    result: (a) => (a.n === 0 ? null : a.s / a.n),
  };
}

/** Number of distinct values (strings or numbers; the accumulator keeps them, sorted). */
export function distinctCount(): Aggregate<string | number, (string | number)[], number> {
  const insert = (list: (string | number)[], v: string | number) => {
    let lo = 0;
    let hi = list.length;
    const k = String(v);
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = String(list[mid]);
      if (m === k) return list;
      if (m < k) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, v);
    return list;
  };
  return {
    name: "distinctCount",
    init: () => [],
    add: insert,
    merge: (a, b) => b.reduce(insert, [...a]),
    result: (a) => a.length,
  };
}

/**
 * A custom reducer. `merge` is needed for session windows (two sessions bridged by a late event).
 *
 * @example
 * reduce((acc: number, v: number) => acc * v, 1, (a, b) => a * b);
 */
export function reduce<V, A>(add: (acc: A, value: V) => A, init: A, merge?: (a: A, b: A) => A): Aggregate<V, A, A> {
  return {
    name: "reduce",
    init: () => structuredClone(init),
    add,
    merge:
      merge ??
      (() => {
        throw new TypeError("this reducer has no merge function; session windows need one");
      }),
    result: (a) => a,
  };
}
