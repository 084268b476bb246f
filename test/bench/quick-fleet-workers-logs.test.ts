import { quickBench } from './quick-bench.js';

quickBench('fleet-workers-logs');
