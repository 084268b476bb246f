import type { SystemInfo } from '../../../gen/edge/v1/worker_pb.js';

/** Thresholds past which a worker puts itself into maintenance (`--min-disk-free-mib`, `--max-cpu-percent`). */
export interface HealthLimits {
  minDiskFreeMib?: number;
  maxCpuPercent?: number;
}

/** What is wrong with the machine, in words; empty when it is healthy. */
export function healthProblems(limits: HealthLimits, info: SystemInfo): string[] {
  const problems: string[] = [];
  if (limits.minDiskFreeMib !== undefined && info.diskTotalMib > 0 && info.diskFreeMib < limits.minDiskFreeMib) {
    problems.push(`disk free ${info.diskFreeMib} MiB is below ${limits.minDiskFreeMib} MiB`);
  }
  if (limits.maxCpuPercent !== undefined && info.cpuPercent > limits.maxCpuPercent) {
    problems.push(`CPU use ${info.cpuPercent}% is above ${limits.maxCpuPercent}%`);
  }
  return problems;
}
