"""The mechanic registry: `type:` name -> (parameter model, mechanic class).

Adding a mechanic means one new module here and one entry below.
"""

from __future__ import annotations

from sim.mechanics.activity import Activity, ActivityParams
from sim.mechanics.automations import Automations, AutomationsParams
from sim.mechanics.bargain import Bargain, BargainParams
from sim.mechanics.base import Mechanic, MechanicParams
from sim.mechanics.bass_acquisition import BassAcquisition, BassAcquisitionParams
from sim.mechanics.catalogue import Catalogue, CatalogueParams
from sim.mechanics.community import Community, CommunityParams
from sim.mechanics.distributors import Distributors, DistributorsParams
from sim.mechanics.funnel import Funnel, FunnelParams
from sim.mechanics.group_buy import GroupBuy, GroupBuyParams
from sim.mechanics.inventory import Inventory, InventoryParams
from sim.mechanics.kol_posts import KolPosts, KolPostsParams
from sim.mechanics.live_stream import LiveStream, LiveStreamParams
from sim.mechanics.membership_tiers import MembershipTiers, MembershipTiersParams
from sim.mechanics.new_user_gift import NewUserGift, NewUserGiftParams
from sim.mechanics.observed_arrivals import ObservedArrivals, ObservedArrivalsParams
from sim.mechanics.paid_ads import PaidAds, PaidAdsParams
from sim.mechanics.paid_membership import PaidMembership, PaidMembershipParams
from sim.mechanics.points import Points, PointsParams
from sim.mechanics.purchase_dropout import PurchaseDropout, PurchaseDropoutParams
from sim.mechanics.recommendations import Recommendations, RecommendationsParams
from sim.mechanics.referral import Referral, ReferralParams
from sim.mechanics.seed_users import SeedUsers, SeedUsersParams
from sim.mechanics.segments import Segments, SegmentsParams
from sim.mechanics.touchpoints import Touchpoints, TouchpointsParams

REGISTRY: dict[str, tuple[type[MechanicParams], type[Mechanic]]] = {
    "seed_users": (SeedUsersParams, SeedUsers),
    "observed_arrivals": (ObservedArrivalsParams, ObservedArrivals),
    "bass_acquisition": (BassAcquisitionParams, BassAcquisition),
    "paid_ads": (PaidAdsParams, PaidAds),
    "kol_posts": (KolPostsParams, KolPosts),
    "funnel": (FunnelParams, Funnel),
    "new_user_gift": (NewUserGiftParams, NewUserGift),
    "purchase_dropout": (PurchaseDropoutParams, PurchaseDropout),
    "referral": (ReferralParams, Referral),
    "activity": (ActivityParams, Activity),
    "group_buy": (GroupBuyParams, GroupBuy),
    "bargain": (BargainParams, Bargain),
    "distributors": (DistributorsParams, Distributors),
    "segments": (SegmentsParams, Segments),
    "automations": (AutomationsParams, Automations),
    "membership_tiers": (MembershipTiersParams, MembershipTiers),
    "points": (PointsParams, Points),
    "paid_membership": (PaidMembershipParams, PaidMembership),
    "community": (CommunityParams, Community),
    "touchpoints": (TouchpointsParams, Touchpoints),
    "recommendations": (RecommendationsParams, Recommendations),
    "live_stream": (LiveStreamParams, LiveStream),
    "catalogue": (CatalogueParams, Catalogue),
    "inventory": (InventoryParams, Inventory),
}

__all__ = ["REGISTRY", "Mechanic", "MechanicParams"]
