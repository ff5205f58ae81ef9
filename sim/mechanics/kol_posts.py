"""KOL / KOC posts: on a date, a paid post reaches people; its pull decays over the days after.

A post with reach R and click rate c brings R * c visits in expectation, spread over the days
from its date as a geometric decay with the given half-life. Each post is a SimPy process that
waits for its date, books its cost, and joins the list of live posts; every day the live posts'
expected visits are drawn among the potential users of the targeted personas.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
from pydantic import Field

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.params import StrictModel


class Post(StrictModel):
    day: int = Field(ge=0, description="Day the post goes live.")
    cost: float = Field(ge=0.0, description="What the post costs, yuan (KOC 300, micro 800, "
                        "mid 4,500, top 25,000: Xiaohongshu 2025 rates).")
    reach: float = Field(ge=0.0, description="People who will see the post over its life.")
    click_rate: float = Field(0.02, ge=0.0, le=1.0,
                              description="Share of the reached who visit the mini-program.")
    half_life_days: float = Field(2.0, gt=0.0, description="Days for the daily pull to halve.")
    personas: list[str] = Field(default_factory=list,
                                description="Personas the post speaks to; empty = all.")
    campaign: int = Field(0, ge=0, le=30000, description="Campaign id users remember.")


class KolPostsParams(MechanicParams):
    type: Literal["kol_posts"] = "kol_posts"
    scaled_fields = frozenset({"posts.*.reach", "posts.*.cost"})  # a post to that share of users
    # may be empty: a horizon shortened on the command line leaves out the posts past it (with
    # a note), and the channel stays for the mechanics that name it
    posts: list[Post] = Field(description="The posts, each with its own date (none: the "
                              "channel exists but no post runs).")
    channel: str = Field("kol", pattern=r"^[a-z][a-z0-9_]*$",
                         description="Channel new users are credited to.")


class KolPosts(Mechanic[KolPostsParams]):
    stage = StageOrder.ACQUISITION
    channel_events = ("kol_spend",)

    @classmethod
    def channels(cls, params: KolPostsParams) -> list[str]:
        return [params.channel]

    def setup(self) -> None:
        self.channel = self.ctx.layout.channel_id(self.params.base.channel)
        group_sizes = np.bincount(self.pop.group, minlength=self.pop.n_groups)
        self.live: list[tuple[Post, np.ndarray, int]] = []  # post, groups, audience size
        for post in self.params.base.posts:
            groups = self.targeted_groups(post.personas)
            audience = int(group_sizes[groups].sum())
            self.ctx.env.process(self._publish(post, groups, audience))

    def _publish(self, post: Post, groups: np.ndarray, audience: int) -> Iterator:
        if post.day > 0:
            yield self.ctx.env.timeout(post.day)
        self.ctx.recorder.channel_event("kol_spend", post.day, self.channel, post.cost)
        self.live.append((post, groups, audience))

    def step(self, day: int) -> None:
        for post, groups, audience in self.live:
            if audience == 0:
                continue
            keep = 0.5 ** (1.0 / post.half_life_days)
            share_today = (1.0 - keep) * keep ** (day - post.day)
            prob = min(1.0, post.reach * post.click_rate * share_today / audience)
            for group in groups:
                visits = int(self.rng.binomial(self.pop.potential_of_group(int(group)), prob))
                if visits:
                    rows = self.pop.draw_potential(int(group), visits, self.rng)
                    self.bring(rows, day, self.channel, post.campaign)
