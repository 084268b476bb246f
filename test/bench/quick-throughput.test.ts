import { quickBench } from './quick-bench.js';

quickBench('throughput');
