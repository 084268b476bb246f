import fs from 'node:fs';
import os from 'node:os';
import { create } from '@bufbuild/protobuf';
import { SystemInfoSchema, type SystemInfo } from '../../../gen/edge/v1/worker_pb.js';

const MIB = 1024 * 1024;

/**
 * Samples how this machine stands for heartbeats. CPU use is measured between two samples (the
 * heartbeat interval), as `top` does, rather than since boot.
 */
export class SystemSampler {
  private last = cpuTimes();

  constructor(private readonly workDir: string) {}

  sample(): SystemInfo {
    const now = cpuTimes();
    let busy = now.busy - this.last.busy;
    let total = now.total - this.last.total;
    // Too short a window (registration right after start) says little: use the times since boot.
    if (total < 100 * os.cpus().length) ({ busy, total } = now);
    this.last = now;
    let diskFreeMib = 0;
    let diskTotalMib = 0;
    try {
      const st = fs.statfsSync(this.workDir);
      diskFreeMib = Math.floor((st.bavail * st.bsize) / MIB);
      diskTotalMib = Math.floor((st.blocks * st.bsize) / MIB);
    } catch {
      // the work dir is gone or not a file system we can ask: report zeros rather than fail a heartbeat
    }
    return create(SystemInfoSchema, {
      cpuPercent: total > 0 ? Math.round((busy / total) * 1000) / 10 : 0,
      cpuCount: os.cpus().length,
      memoryTotalMib: Math.floor(os.totalmem() / MIB),
      memoryAvailableMib: Math.floor(os.freemem() / MIB),
      diskFreeMib: clampInt(diskFreeMib),
      diskTotalMib: clampInt(diskTotalMib),
      loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
      os: `${os.type()} ${os.release()}`,
      arch: os.arch(),
      nodeVersion: process.version,
      hostname: os.hostname(),
    });
  }
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
    total += t;
    busy += t - c.times.idle;
  }
  return { busy, total };
}

const clampInt = (n: number) => Math.min(n, 2 ** 31 - 1);
