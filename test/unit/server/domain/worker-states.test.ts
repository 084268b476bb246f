import assert from 'node:assert/strict';
import { reportedGivenHoldings, resolveReportedState, stateAfterMaintenanceChange, stateAtRegistration } from '../../../../server/domain/worker-states.js';

describe('worker states: what is stored follows reports and operators\' wishes', () => {
  const none = { maintenance: false, shutdownRequested: false };
  const maint = { maintenance: true, shutdownRequested: false };
  const shut = { maintenance: false, shutdownRequested: true };

  it('stores what a worker reports when nobody wants anything of it', () => {
    for (const s of ['IDLE', 'RUNNING', 'TERMINATING', 'OFFLINE'] as const) assert.equal(resolveReportedState(s, none), s);
  });

  it('keeps maintenance requested until the worker says it is in maintenance, then follows it', () => {
    assert.equal(resolveReportedState('IDLE', maint), 'MAINTENANCE_REQUEST');
    assert.equal(resolveReportedState('RUNNING', maint), 'MAINTENANCE_REQUEST');
    assert.equal(resolveReportedState('MAINTENANCE_PENDING', maint), 'MAINTENANCE_PENDING');
    assert.equal(resolveReportedState('MAINTENANCE_MODE', maint), 'MAINTENANCE_MODE');
  });

  it('shows MAINTENANCE_EXIT until a worker that left maintenance says so', () => {
    assert.equal(resolveReportedState('MAINTENANCE_MODE', none), 'MAINTENANCE_EXIT');
    assert.equal(resolveReportedState('IDLE', none), 'IDLE');
  });

  it('shows SHUTDOWN_REQUEST until the worker drains; a graceful stop always wins', () => {
    assert.equal(resolveReportedState('IDLE', shut), 'SHUTDOWN_REQUEST');
    // The store's heartbeat statement relies on this: with a shutdown requested, maintenance does not matter.
    for (const s of ['IDLE', 'RUNNING', 'MAINTENANCE_PENDING', 'MAINTENANCE_MODE', 'TERMINATING', 'OFFLINE'] as const) {
      assert.equal(resolveReportedState(s, { maintenance: true, shutdownRequested: true }), resolveReportedState(s, shut));
    }
    assert.equal(resolveReportedState('TERMINATING', shut), 'TERMINATING');
    assert.equal(resolveReportedState('OFFLINE', maint), 'OFFLINE');
  });

  it('moves at once when an operator turns maintenance on or off; a gone worker keeps its state', () => {
    assert.equal(stateAfterMaintenanceChange('IDLE', true), 'MAINTENANCE_REQUEST');
    assert.equal(stateAfterMaintenanceChange('RUNNING', true), 'MAINTENANCE_REQUEST');
    assert.equal(stateAfterMaintenanceChange('OFFLINE', true), 'OFFLINE');
    assert.equal(stateAfterMaintenanceChange('MAINTENANCE_MODE', false), 'MAINTENANCE_EXIT');
    assert.equal(stateAfterMaintenanceChange('MAINTENANCE_REQUEST', false), 'MAINTENANCE_EXIT');
    assert.equal(stateAfterMaintenanceChange('IDLE', false), 'IDLE');
  });

  it('starts a restarted worker in maintenance when an operator still wants it there', () => {
    assert.equal(stateAtRegistration(true), 'MAINTENANCE_REQUEST');
    assert.equal(stateAtRegistration(false), 'STARTING');
  });
});

describe('worker states: a report squares with the jobs the worker holds', () => {
  it('stores RUNNING for a worker that says IDLE with jobs, IDLE for one that says RUNNING with none', () => {
    assert.equal(reportedGivenHoldings('IDLE', true), 'RUNNING');
    assert.equal(reportedGivenHoldings('RUNNING', false), 'IDLE');
    assert.equal(reportedGivenHoldings('IDLE', false), 'IDLE');
    assert.equal(reportedGivenHoldings('RUNNING', true), 'RUNNING');
    assert.equal(reportedGivenHoldings('MAINTENANCE_PENDING', false), 'MAINTENANCE_PENDING');
    assert.equal(reportedGivenHoldings('TERMINATING', true), 'TERMINATING');
  });
});
