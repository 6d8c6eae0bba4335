import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WorkshopApi } from '../../cli/apiClient';
import { LearnerDriver } from '../workshop/learnerDriver';
import { cardText, eventually, rosterCsv, startTeamsStack, TEST_KEYS, type TeamsStack } from './teamsStack';

/**
 * Parking a run overnight from Teams (issue 15 item 5): the instructor says "park", the learner is told in Teams
 * that the run is parked and their work saved; a second "park" is refused with what to do; "unpark" in the
 * morning and the learner is told they continue. (Through the connector emulator and the real bot.)
 */
const RUN = 'teams-park';
let s: TeamsStack;
let api: WorkshopApi;

beforeAll(async () => {
  s = await startTeamsStack({ arm: true, packsDir: path.join(__dirname, '..', 'workshop', 'packs') });
  for (const u of [s.instructor, s.learners[0]!]) expect((await s.teams.install(u.id)).status).toBe(200);
  expect((await s.teams.say(s.instructor.id, `start drill csv id=${RUN}\n${rosterCsv(s.learners.slice(0, 1))}`)).status).toBe(200);
  api = new WorkshopApi({ url: s.url, instructorKey: TEST_KEYS.instructor });
});
afterAll(async () => {
  await s?.stop();
});

const botSaid = (userId: string, text: string) => () => s.teams.transcript(s.teams.personalConversationId(userId)).find((a) => a.fromBot && `${a.text ?? ''}${cardText(a)}`.includes(text));

it('park and unpark from Teams: the learner is told both times; a second park is refused with what to do', async () => {
  const learner = s.learners[0]!;
  const learnerId = (await api.runStatus(RUN)).learners[0]!.learnerId;
  await (await LearnerDriver.create(api, RUN, learnerId, 'drill')).walkTo('req-drivers');
  await s.teams.say(s.instructor.id, 'park');
  await eventually('the instructor to hear the run is parking', botSaid(s.instructor.id, `Parking run ${RUN}`));
  await eventually('the learner to be told the run is parked', botSaid(learner.id, 'The run is parked until the instructor resumes it'));
  expect((await api.parking(RUN)).parking).toMatchObject({ state: 'parked', seq: 1 });
  await s.teams.say(s.instructor.id, 'park');
  await eventually('the second park to be refused', botSaid(s.instructor.id, 'is already parked'));
  await s.teams.say(s.instructor.id, 'unpark');
  await eventually('the instructor to hear the run resumes', botSaid(s.instructor.id, `Resuming run ${RUN}`));
  await eventually('the learner to be told they continue', botSaid(learner.id, 'Welcome back'));
  expect((await api.learnerStatus(RUN, learnerId)).position).toMatchObject({ stepId: 'req-drivers', state: 'awaitingLearner' });
});
