"""The service: the one door every face (CLIs, dashboard views, REST API) goes through to the engine and store.

``BatchService`` runs the operations; ``engine.service.models`` holds the typed read models it returns.
"""

from engine.service.batch import BatchService, SavedPlan
from engine.service.models import (
                                   BatchItem,
                                   BatchPage,
                                   BatchStatus,
                                   BatchSummary,
                                   Eta,
                                   Event,
                                   EventPage,
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
                                   RunningItem,
                                   Throughput,
)
from engine.service.opening import open_service, runner_names, server_settings

__all__ = ["BatchItem", "BatchPage", "BatchService", "BatchStatus", "BatchSummary", "Eta", "Event", "EventPage",
           "Failure", "FailureExample", "FailureGroup", "FailureReport", "FeedEvent", "Health", "ItemPage", "ItemRef",
           "MissingField", "NeedsReview", "OutcomeField", "Outcomes", "Product", "ProductOutcome", "ProductPage",
           "RunningItem", "SavedPlan", "Throughput", "open_service", "runner_names", "server_settings"]
