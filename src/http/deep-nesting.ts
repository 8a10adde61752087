import { SwitchyardError } from '../errors/errors.js';

/** Nesting past which a failed request is blamed on its body (a real request nests a few dozen levels). */
export const MAX_NESTING = 1000;

/**
 * A request whose body nests thousands of levels deep parses (V8's JSON.parse does not recurse)
 * but overflows the stack wherever it is serialized again or walked (the sandbox's seed, a body
 * forwarded upstream). Checking every body's depth up front would cost every request a walk of
 * its body; instead a failure is examined: a stack overflow on a body nested past MAX_NESTING is
 * that body's fault, a 400 in OpenAI's words for an unreadable body, not a 500 (which the SDKs
 * retry). Any other failure is left as it is.
 */
export function blameDeepNesting(failure: SwitchyardError, body: unknown): SwitchyardError {
  if (failure.status < 500 || !overflowedTheStack(failure) || !nestsDeeperThan(body, MAX_NESTING)) return failure;
  return new SwitchyardError('invalid_json', `We could not parse the JSON body of your request: it nests more than ${MAX_NESTING} levels deep.`);
}

function overflowedTheStack(error: unknown): boolean {
  for (let cause = error, hops = 0; cause instanceof Error && hops < 8; cause = cause.cause, hops++) {
    if (cause instanceof RangeError && /call stack/i.test(cause.message)) return true;
  }
  return false;
}

/** Whether arrays and objects nest deeper than `max` in `value`; walked without recursion. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
  return false;
}
