"""Routes for other Hoera services, never for people: the caller holds the role `service`
(hoera_kit.service_tokens), which no person's token carries. Unlike the API's routes, these name the
tenant they are about in the request: a service works for every tenant of its deployment.

The customers' comments stay here, out of every event (Kafka's log cannot be erased); `SurveyAnswered`
says `commented: true`, and alerts and callback ask for the words when they handle it
(hoera_kit.references.SurveyComments). After an erasure there are none left to give. Beside the
words, each comment's answer's reason and topics (codes, as SurveyAnswered carries them), for a
drill-down that shows them together.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends
from hoera_kit.auth import TENANT_PATTERN, Principal, Role, require_roles
from pydantic import BaseModel, ConfigDict, Field

from hoera_survey import handlers
from hoera_survey.api import AppDeps

router = APIRouter(prefix="/internal", tags=["internal"])

AService = Annotated[Principal, Depends(require_roles(Role.service))]

MAX_SURVEYS = 1000


class CommentsRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"tenant": "demo", "survey_ids": ["3f1c2a9e-6b1d-4f5e-9a55-2b7f4c1d8e20"]}]
        },
    )

    tenant: Annotated[str, Field(pattern=TENANT_PATTERN.pattern, description="the surveys' organisation")]
    survey_ids: Annotated[list[UUID], Field(max_length=MAX_SURVEYS, description="at most 1000 per call")]


class CommentTags(BaseModel):
    reason: str | None = Field(
        description="the reason the customer chose after an unhappy smiley (a code of the tenant's)"
    )
    topics: list[str] = Field(description="the codes of the tenant's comment topics found in the words")


class Comments(BaseModel):
    comments: dict[str, str] = Field(
        description="survey id -> the customer's words; a survey without a comment (none written, "
        "erased, or not of this tenant) is absent"
    )
    tags: dict[str, CommentTags] = Field(
        default_factory=dict,
        description="survey id -> the answer's reason and the comment's topics, for each comment given",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "comments": {
                        "3f1c2a9e-6b1d-4f5e-9a55-2b7f4c1d8e20": "Vriendelijk, maar ik wacht nog altijd."
                    },
                    "tags": {
                        "3f1c2a9e-6b1d-4f5e-9a55-2b7f4c1d8e20": {
                            "reason": "waiting-time",
                            "topics": ["waiting"],
                        }
                    },
                }
            ]
        }
    }


@router.post(
    "/survey-comments",
    summary="The customers' comments of answered surveys, for the services that act on them",
    description="For another Hoera service (role service), which names the tenant: events say only that "
    "a customer commented (SurveyAnswered.commented), so alerts and callback read the words here when "
    "they handle the answer, with the answer's reason and the comment's topics (codes). Surveys of "
    "another tenant, unanswered, without a comment or erased are left out.",
)
async def survey_comments(
    request_body: Annotated[CommentsRequest, Body()], principal: AService, deps: AppDeps
) -> Comments:
    found = await handlers.comments(deps, request_body.tenant, list(dict.fromkeys(request_body.survey_ids)))
    return Comments(
        comments={str(survey_id): found[survey_id].comment for survey_id in found},
        tags={
            str(survey_id): CommentTags(reason=c.reason, topics=c.topics) for survey_id, c in found.items()
        },
    )
