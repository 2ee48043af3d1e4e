"""The service: the one door every face (CLIs, dashboard views, REST API) goes through to the engine and store.

``BatchService`` runs the operations; ``engine.service.models`` holds the typed read models it returns.
"""

from engine.service.batch import BatchService, SavedPlan
from engine.service.models import (
                                   BatchItem,
                                   BatchPage,
                                   BatchQueue,
                                   BatchStatus,
                                   BatchSummary,
                                   DeletedBatch,
                                   Eta,
                                   Event,
                                   EventPage,
                                   ExecutorInfo,
                                   Failure,
                                   FailureExample,
                                   FailureGroup,
                                   FailureReport,
                                   FeedEvent,
                                   Health,
                                   ItemPage,
                                   ItemRef,
                                   MissingField,
                                   NeedsReview,
                                   OutcomeField,
                                   Outcomes,
                                   Product,
                                   ProductOutcome,
                                   ProductPage,
                                   QueuedBatch,
                                   RunnerEntry,
                                   RunnerList,
                                   RunningItem,
                                   Throughput,
)
from engine.service.opening import ExecutorChoice, open_service, runner_names, runners, server_settings

__all__ = ["BatchItem", "BatchPage", "BatchQueue", "BatchService", "BatchStatus", "BatchSummary", "DeletedBatch", "Eta",
           "ExecutorChoice", "ExecutorInfo",
           "Event", "EventPage", "QueuedBatch",
           "Failure", "FailureExample", "FailureGroup", "FailureReport", "FeedEvent", "Health", "ItemPage", "ItemRef",
           "MissingField", "NeedsReview", "OutcomeField", "Outcomes", "Product", "ProductOutcome", "ProductPage",
           "RunnerEntry", "RunnerList", "RunningItem", "SavedPlan", "Throughput", "open_service", "runner_names", "runners",
           "server_settings"]
