import { quickBench } from './quick-bench.js';

quickBench('web-pages');
