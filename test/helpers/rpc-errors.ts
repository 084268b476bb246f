import { ConnectError, type Code } from '@connectrpc/connect';

/** The code and message a call failed with; fails the test when the call succeeds. */
export async function codeOf(p: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error('expected the call to fail');
}
