import type { HttpRequest, HttpResponse, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';

/**
 * POST /api/orchestrators/{orchestratorName}[/{instanceId}] — the standard Durable starter: starts an
 * orchestration with the JSON body as input and answers 202 with the status/management links.
 */
export async function httpStart(request: HttpRequest, context: InvocationContext): Promise<HttpResponse | HttpResponseInit> {
  const client = df.getClient(context);
  const text = await request.text();
  let input: unknown;
  if (text.trim() !== '') {
    try {
      input = JSON.parse(text);
    } catch (err) {
      return { status: 400, jsonBody: { error: `The request body is not valid JSON: ${(err as Error).message}` } };
    }
  }
  try {
    const instanceId = await client.startNew(request.params.orchestratorName, { input, instanceId: request.params.instanceId || undefined });
    context.log(`Started orchestration ${request.params.orchestratorName} with id ${instanceId}`);
    return client.createCheckStatusResponse(request, instanceId);
  } catch (err) {
    // The durable API's own 4xx message (unknown orchestrator, id in use, too large) is the useful part.
    const message = (err as Error).message;
    const status = /404/.test(message) ? 404 : /409/.test(message) ? 409 : /413/.test(message) ? 413 : 400;
    return { status, jsonBody: { error: message } };
  }
}
