// Mocha's spec reporter that also writes mocha's own counts to $EDGE_TEST_COUNTS (JSON), so that
// .ci/run can print the plain "N passed, N failed" line CI reads.
const fs = require('node:fs');
const Mocha = require('mocha');

class SpecWithCounts extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const file = process.env.EDGE_TEST_COUNTS;
      if (!file) return;
      const { passes, failures, pending } = this.stats;
      fs.writeFileSync(file, JSON.stringify({ passes, failures, pending }));
    });
  }
}

module.exports = SpecWithCounts;
