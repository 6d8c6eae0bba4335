/**
 * History events as the Durable Task Framework records them. The numbers are the SDK's own
 * `HistoryEventType` values, so a history array can be handed to `Orchestrator.handle` as is.
 */
export enum EventType {
  ExecutionStarted = 0,
  ExecutionCompleted = 1,
  ExecutionFailed = 2,
  ExecutionTerminated = 3,
  TaskScheduled = 4,
  TaskCompleted = 5,
  TaskFailed = 6,
  SubOrchestrationInstanceCreated = 7,
  SubOrchestrationInstanceCompleted = 8,
  SubOrchestrationInstanceFailed = 9,
  TimerCreated = 10,
  TimerFired = 11,
  OrchestratorStarted = 12,
  OrchestratorCompleted = 13,
  EventSent = 14,
  EventRaised = 15,
  ContinueAsNew = 16,
  GenericEvent = 17,
  HistoryState = 18,
  ExecutionSuspended = 19,
  ExecutionResumed = 20,
}

export type RuntimeStatus =
  | 'Pending'
  | 'Running'
  | 'Completed'
  | 'ContinuedAsNew'
  | 'Failed'
  | 'Terminated'
  | 'Suspended';

export const TERMINAL_STATUSES: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated'];

/** One history event, in the field names DTFx and the JS SDK use. Payloads are JSON text. */
export interface HistoryEvent {
  EventType: EventType;
  EventId: number;
  Timestamp: string; // ISO-8601
  IsPlayed?: boolean;
  Name?: string;
  Input?: string;
  Result?: string;
  Reason?: string;
  Details?: string;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  InstanceId?: string;
  OrchestrationStatus?: string;
  Version?: string;
  /** ExecutionStarted: parent instance (sub-orchestration) and the parent's task id. */
  ParentInstanceId?: string;
  ParentTaskScheduledId?: number;
  /** TaskScheduled/TimerCreated/SubOrchestrationInstanceCreated emitted by a retry policy: id of the first attempt. */
  RetryOf?: number;
  ParentExecutionId?: string;
  /** TaskFailed/SubOrchestrationInstanceFailed: JSON of { ErrorType, ErrorMessage, StackTrace }. */
  FailureDetails?: string;
  /** Key of the inbox message this event was taken from (so a crash between steps is detected). */
  InboxKey?: string;
}

/** The events that schedule work (and so carry an EventId the code must reproduce on replay). */
export function isSchedulingEvent(e: HistoryEvent): boolean {
  return (
    e.EventType === EventType.TaskScheduled ||
    e.EventType === EventType.TimerCreated ||
    e.EventType === EventType.SubOrchestrationInstanceCreated
  );
}

export function eventTypeName(t: EventType): string {
  return EventType[t] ?? String(t);
}
