import { describe, expect, it } from 'vitest';
import { collectLearnerSubscription } from '../../cli/workshop';

/** How an instructor names a run's learner subscriptions on the command line. */
describe('workshop run start --learner-subscription', () => {
  it('takes <id>[@region,region], repeatable, and refuses anything else with the expected form', () => {
    const a = '00000000-0000-4000-8000-00000000a2e0';
    const b = '00000000-0000-4000-8000-00000000a2e1';
    expect(collectLearnerSubscription(`${b}@westeurope,northeurope`, collectLearnerSubscription(a))).toEqual([{ subscriptionId: a }, { subscriptionId: b, locations: ['westeurope', 'northeurope'] }]);
    expect(() => collectLearnerSubscription('sub-one')).toThrow(/--learner-subscription takes <subscription id>\[@region,region\].*got "sub-one"/);
    expect(() => collectLearnerSubscription(`${a}@West Europe`)).toThrow(/--learner-subscription takes/);
  });
});
