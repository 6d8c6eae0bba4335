import { TableClient, TableServiceClient } from '@azure/data-tables';
import { startAzurite } from '/work/main/local/azurite';
(async () => {
  const t0 = Date.now();
  const az = await startAzurite();
  console.log('azurite up', Date.now() - t0);
  const s = TableServiceClient.fromConnectionString(az.connectionString, { allowInsecureConnection: true });
  await s.createTable('XHistory');
  const c = TableClient.fromConnectionString(az.connectionString, 'XHistory', { allowInsecureConnection: true });
  let r = await c.submitTransaction([['upsert', { partitionKey: 'p', rowKey: 'a' }, 'Replace'], ['create', { partitionKey: 'p', rowKey: 'sentinel', X: 1 }]]);
  console.log(JSON.stringify(r.subResponses));
  r = await c.submitTransaction([['upsert', { partitionKey: 'p', rowKey: 'b' }, 'Replace'], ['update', { partitionKey: 'p', rowKey: 'sentinel', X: 2 }, 'Replace', { etag: r.subResponses[1].etag }]]);
  console.log(JSON.stringify(r.subResponses));
  await az.stop();
})();
