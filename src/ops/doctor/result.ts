/** What one doctor check answers. */
export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  why: string;
  fix?: string;
}
