"""Every model parameter in one place: default, type, allowed range, unit and source.

A scenario file (TOML) overrides any of these; anything it leaves out takes the default
below. Strategies overlay only the sections in ``STRATEGY_SECTIONS`` (what a go-to-market
team decides: channel budgets, rep time, policies); the market is the same for all.

Numbers are defaults and calibration targets, not constants hard-wired in the mechanisms.
Sources are named where a number comes from published work; "assumption" marks a modelling
choice to be calibrated (see the validation suite).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.engine.state import CHANNELS, REP_ACTIVITIES, SEGMENTS  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class P:
    """One parameter: default value, kind, inclusive bounds, unit and source."""

    default: Any
    kind: str  # "int" | "float" | "bool" | "str" | "list[int]"
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    source: str = "assumption"
    doc: str = ""
    choices: tuple = ()

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            if self.lo is not None and self.hi is not None:
                return f"{noun} from {self.lo:g} to {self.hi:g}"
            if self.lo is not None:
                return f"{noun} >= {self.lo:g}"
            return noun
        if self.kind == "list[int]":
            return "a list of whole days" + (f" from {self.lo:g}" if self.lo is not None else "")
        return {"bool": "true or false", "str": "a string"}[self.kind]


def _segment(share, deal, group_min, group_max, speed, shift, churn, competitors):
    return {
        "share": P(share, "float", 0, 1, "share of accounts", "assumption: typical mid-market SaaS TAM mix"),
        "deal_size": P(deal, "float", 0, None, "$ annual contract value (median)", "assumption: SaaS ACV bands"),
        "deal_size_sigma": P(0.5, "float", 0, 3, "lognormal sigma of deal size", "assumption"),
        "group_min": P(group_min, "int", 1, 50, "people in the buying group (min)", "DESIGN.md; Gartner B2B buying: 6-10 for complex purchases"),
        "group_max": P(group_max, "int", 1, 50, "people in the buying group (max)", "DESIGN.md; Gartner B2B buying: 6-10 for complex purchases"),
        "research_speed": P(speed, "float", 0, 1, "share of decision made per research day (mean)", "assumption calibrated to typical cycle lengths: SMB ~1-2 months, enterprise 6+ months"),
        "threshold_shift": P(shift, "float", -0.5, 0.5, "added to readiness threshold", "seed 003 / CEB 2012: buyers of low-price products go further alone"),
        "annual_churn": P(churn, "float", 0, 1, "share of customers lost per year at neutral trust", "assumption: SaaS churn benchmarks by segment"),
        "n_competitors": P(competitors, "int", 0, 50, "competing vendors on a typical shortlist", "assumption"),
    }


SCHEMA: dict[str, Any] = {
    "scenario": {
        "name": P("default", "str", doc="short name, used for the results folder"),
        "description": P("", "str", doc="one paragraph for the report"),
        "horizon_days": P(365, "int", 1, 3650, "days", "one budget year"),
    },
    "market": {
        "n_accounts": P(2000, "int", 1, 10_000_000, "companies in the addressable market", "assumption: mid-size B2B market"),
        "initial_customers": P(0.03, "float", 0, 1, "share of accounts already customers at day 0 (installed base)", "assumption: an established vendor"),
        "n_communities": P(20, "int", 1, 100_000, "industry communities", "assumption"),
        "gross_margin": P(0.75, "float", 0, 1, "share of revenue", "SaaS benchmarks (~75% gross margin)"),
        "readiness_mean": P(0.30, "float", 0.01, 0.99, "mean personal readiness threshold: share of the decision made before a buyer is willing to talk to sales",
                            "calibrated (was 0.57, the CEB figure used as an input: emergent median 0.71) so that the EMERGENT median progress at the first sales conversation matches CEB / Google 2012 (57%, 'nearly 60%'; seed 003) within the validation tolerance (0.57 +/- 0.07): measured over the default scenario's 4 strategies x 20 seeds, pooled median 0.611 (content_nurture 0.629 [0.621, 0.637], cold_calling 0.625, networking 0.584, blended 0.600). Buyers first talk to sales well past their threshold (median inbound overshoot ~+0.35): hand raises wait for trust in us (research.hand_raise_trust), the daily draw and a rep, so the threshold has little leverage (0.20 still gives ~0.60)"),
        "readiness_sd": P(0.15, "float", 0, 0.5, "spread of the personal readiness threshold", "seed 003: 57% is an average; some go 70%+"),
        "receptivity_sigma": P(0.5, "float", 0, 3, "lognormal sigma of channel receptivity per buyer", "assumption"),
        "segments": {
            "smb": _segment(0.55, 6_000, 1, 2, 0.012, 0.08, 0.25, 6),
            "mid": _segment(0.33, 25_000, 3, 5, 0.006, 0.0, 0.12, 5),
            "enterprise": _segment(0.12, 80_000, 6, 10, 0.0035, -0.05, 0.07, 4),
        },
    },
    "network": {
        "weak_ties_mean": P(6.0, "float", 0, 1000, "cross-account ties per buyer (mean)", "assumption: industry peer networks"),
        "cross_community": P(0.1, "float", 0, 1, "share of weak ties outside the own community", "small-world shortcuts (Watts & Strogatz 1998)"),
        "strong_weight": P(1.0, "float", 0, 10, "influence weight of a colleague tie", "assumption: strong ties (Granovetter 1973)"),
        "weak_weight": P(0.3, "float", 0, 10, "influence weight of a peer tie", "assumption: weak ties (Granovetter 1973)"),
        "initial_rep_ties": P(0.01, "float", 0, 1, "share of buyers who know one of our reps at day 0", "assumption"),
    },
    "need": {
        "annual_trigger_rate": P(0.2, "float", 0, 50, "buying episodes per account per year", "95:5 rule: ~5-year purchase cycle (Dawes, B2B Institute 2021)"),
        "fade_rate": P(0.004, "float", 0, 1, "daily hazard an in-market account drops the need", "40-60% of B2B pipelines end in no decision (Dixon & McKenna 2022)"),
        "cooldown_days": P(180, "int", 0, 3650, "days after a lost decision before a new need can arise", "assumption"),
    },
    "research": {
        "search_intensity": P(0.5, "float", 0, 1, "daily probability an exploring buyer searches the web", "seed 003: buyers surf vendor sites and content"),
        "peer_boost": P(0.5, "float", 0, 10, "research speed-up when all peers are exploring or customers", "seed 003: buyers engage peers in social media"),
        "hand_raise_rate": P(0.15, "float", 0, 1, "daily probability a ready, trusting buyer contacts us", "assumption"),
        "hand_raise_trust": P(0.3, "float", 0, 1, "trust in us (net of resentment) needed to contact us", "assumption"),
        "trust_decay": P(0.002, "float", 0, 1, "daily relative decay of trust towards zero", "assumption: goodwill decay (Nerlove & Arrow 1962)"),
        "accept_width": P(0.08, "float", 0.001, 1, "logistic width of meeting acceptance around the threshold", "assumption"),
        "accept_trust": P(2.0, "float", 0, 20, "log-odds of accepting a meeting per unit of trust in us, net of resentment from unwanted calls",
                          "assumption: seed 001 (a prospect takes a meeting through someone they trust); trust 0.35, a typical transferred trust, doubles the odds, in line with practitioner reports that warm introductions convert several times better than cold outreach"),
    },
    "competitors": {
        "content_stock": P(150.0, "float", 0, None, "competitors' content assets (all vendors)", "assumption"),
        "baseline_trust": P(0.6, "float", 0, 1, "trust a buyer has in a typical competitor", "assumption"),
        "choice_sensitivity": P(8.0, "float", 0, 100, "logit sensitivity of vendor choice to trust", "assumption: multinomial logit choice"),
    },
    "decision": {
        "consensus_share": P(0.5, "float", 0.01, 1, "share of the buying group that must be done researching", "DESIGN.md: buying-group consensus"),
        "engaged_bonus": P(0.15, "float", 0, 1, "trust bonus for a vendor in active conversation", "DESIGN.md: engaged accounts favour us"),
    },
    "channels": {
        "content": {
            "budget": P(0.0, "float", 0, None, "$ per year on content production", "strategy"),
            "fixed_cost": P(20_000.0, "float", 0, None, "$ per year while active (tools, SEO)", "assumption"),
            "cost_per_asset": P(2_500.0, "float", 1, None, "$ per content asset", "assumption: agency rates for a whitepaper/article"),
            "initial_stock": P(20.0, "float", 0, None, "content assets live at day 0", "assumption"),
            "half_life_days": P(180.0, "float", 1, None, "days for an asset's pull to halve", "assumption: content decay; Nerlove-Arrow goodwill stock"),
            "find_rate": P(0.6, "float", 0, 1, "chance a search finds us at 100% share of voice", "assumption"),
            "trust_gain": P(0.04, "float", 0, 1, "trust added per content visit", "seed 000: trust = intent + expertise"),
            "progress_gain": P(0.01, "float", 0, 1, "decision progress added per visit", "seed 003"),
            "gate_rate": P(0.08, "float", 0, 1, "share of visits that fill a form (become known contacts)", "assumption: gated content conversion"),
        },
        "email": {
            "budget": P(0.0, "float", 0, None, "$ per year on email sends", "strategy"),
            "fixed_cost": P(6_000.0, "float", 0, None, "$ per year while active (platform)", "assumption: marketing automation licence"),
            "cost_per_send": P(0.05, "float", 0, None, "$ per email sent", "assumption incl. list upkeep"),
            "cadence_days": P(7, "int", 1, 365, "days between nurture emails to a contact", "assumption"),
            "open_rate": P(0.22, "float", 0, 1, "share of emails opened", "Mailchimp B2B benchmarks (~21-23%)"),
            "trust_gain": P(0.015, "float", 0, 1, "trust added per opened email", "assumption"),
            "progress_gain": P(0.01, "float", 0, 1, "decision progress added per opened email", "assumption"),
            "fatigue_per_send": P(0.08, "float", 0, 1, "fatigue added per email", "assumption"),
            "fatigue_half_life_days": P(14.0, "float", 0.1, None, "days for fatigue to halve", "assumption"),
            "unsubscribe_rate": P(0.003, "float", 0, 1, "unsubscribes per email at zero fatigue", "Mailchimp benchmarks (~0.2-0.3%)"),
            "click_rate": P(0.3, "float", 0, 1, "chance a ready reader of an email asks for a call", "assumption"),
        },
        "cold_calling": {
            "budget": P(0.0, "float", 0, None, "$ per year on dialer, data and lists", "strategy"),
            "fixed_cost": P(10_000.0, "float", 0, None, "$ per year while active (dialer licences)", "assumption"),
            "cost_per_dial": P(1.5, "float", 0, None, "$ per dial (contact data, dialer seat, telephony)", "assumption"),
            "dials_per_hour": P(12.0, "float", 0, 200, "dials per rep dialing hour", "Bridge Group SDR benchmarks (~50-60 dials/day)"),
            "connect_rate": P(0.06, "float", 0, 1, "share of dials that reach the person", "Bridge Group / Gong: 2-10% connect rates"),
            "annoyance": P(0.06, "float", 0, 1, "attitude lost by an unready buyer who is called: trust first, the rest as resentment (lowers later meeting acceptance, hand raising and the vendor choice)", "DESIGN.md: unready buyers are annoyed"),
            "do_not_call_rate": P(0.2, "float", 0, 1, "chance an annoyed buyer asks not to be called again", "assumption"),
        },
        "networking": {
            "budget": P(0.0, "float", 0, None, "$ per year on events and memberships", "strategy"),
            "fixed_cost": P(0.0, "float", 0, None, "$ per year while active", "assumption"),
            "cost_per_event": P(8_000.0, "float", 1, None, "$ per industry event attended", "assumption: booth, travel and a rep-day per event"),
            "contacts_per_event": P(10.0, "float", 0, 10_000, "new people a rep team meets per event", "assumption"),
            "contacts_per_hour": P(0.15, "float", 0, 100, "new people met per rep networking hour", "assumption"),
            "tie_trust": P(0.12, "float", 0, 1, "trust from knowing one of our reps personally", "seed 001: networking is sales"),
            "intros_per_hour": P(0.5, "float", 0, 100, "conversations with known contacts per networking hour", "assumption"),
            "referral_rate": P(0.01, "float", 0, 1, "daily referral chance per unit of advocate tie weight", "assumption"),
            "trust_transfer": P(0.5, "float", 0, 1, "share of the introducer's trust passed on", "trust transfer (Schmitt, Skiera & Van den Bulte 2011)"),
            "readiness_discount": P(0.25, "float", 0, 1, "how much earlier an introduced buyer accepts a meeting", "seed 001: an introduction opens the door"),
        },
        "campaigns": {
            "budget": P(0.0, "float", 0, None, "$ per year on paid campaigns and event bursts", "strategy"),
            "fixed_cost": P(0.0, "float", 0, None, "$ per year while active", "assumption"),
            "burst_days": P([30, 120, 210, 300], "list[int]", 0, None, "days on which a burst starts", "assumption: quarterly campaigns"),
            "cost_per_reach": P(10.0, "float", 0.001, None, "$ per person reached (several impressions)", "assumption: B2B paid social at ~$30-60 CPM x frequency"),
            "response_rate": P(0.03, "float", 0, 1, "chance a reached person responds", "assumption"),
            "response_decay_days": P(0.7, "float", 0.01, 365, "e-folding time of direct response", "seed 003: most campaign leads within ~36 hours"),
            "sharing": P(True, "bool", unit="responders share onward", source="seed 003: the tail comes from sharing"),
            "trust_gain": P(0.02, "float", 0, 1, "trust added by a response", "assumption"),
        },
        "social": {
            "budget": P(0.0, "float", 0, None, "$ per year on social selling tools", "strategy"),
            "fixed_cost": P(0.0, "float", 0, None, "$ per year while active", "assumption"),
            "reach_per_hour": P(40.0, "float", 0, 100_000, "people reached per rep social-selling hour", "assumption"),
            "cost_per_reach": P(3.0, "float", 0.001, None, "$ per person reached by sponsored posts", "assumption: LinkedIn sponsored content"),
            "trust_gain": P(0.01, "float", 0, 1, "trust added per social touch", "assumption"),
            "share_prob": P(0.25, "float", 0, 1, "chance a buyer who engaged with our content or responded to a campaign shares it with peers",
                            "calibrated (was 0.08: ~1 shared campaign response a run, too few to measure the tail): with shared_response_lift, ~11 of ~250 campaign responses a run are shared (content_nurture; validation campaign_sharing_tail); CMO Council & NetLine 2014, The Content Connection to Vendor Selection: ~94% of B2B buyers pass content on to colleagues (ever); one in four engagements is an assumption"),
            "shared_response_lift": P(3.0, "float", 0, 100, "response to a campaign passed on by a peer, relative to a paid exposure (x)",
                                      "assumption: seed 003 (shared content is endorsed by readers, 'the most trusted source of information'); Nielsen Global Trust in Advertising 2015: 83% trust recommendations from people they know vs 42-46% for online and social ads (2x in trust; 3x in response assumed)"),
            "wom_rate": P(0.5, "float", 0, 100, "awareness transmission per unit of sharing tie weight", "assumption"),
            "advocate_trust": P(0.004, "float", 0, 1, "daily trust from an advocate neighbour (per tie weight)", "assumption"),
            "advocate_awareness": P(0.02, "float", 0, 1, "daily chance per advocate tie weight that a peer hears of us", "assumption"),
            "detractor_trust": P(0.008, "float", 0, 1, "daily trust lost from a detractor neighbour (per tie weight)", "assumption: negative WOM weighs more"),
            "detractor_days": P(120, "int", 0, 3650, "days a churned customer speaks badly of us", "assumption"),
        },
    },
    "sales": {
        "n_reps": P(5, "int", 0, 100_000, "sales reps", "assumption"),
        "hours_per_day": P(6.0, "float", 0, 24, "selling hours per rep per day", "assumption: reps sell ~30-40% of a working week (Salesforce State of Sales)"),
        "cost_per_rep_day": P(600.0, "float", 0, None, "$ per rep per calendar day, fully loaded", "assumption: ~$220k/yr loaded cost of an account executive"),
        "ramp_days": P(90, "int", 0, 3650, "days for a new rep to reach full productivity", "assumption"),
        "initial_tenure_days": P(365, "int", 0, 100_000, "tenure of the team at day 0", "assumption: an established team"),
        "hours_per_meeting": P(1.5, "float", 0.1, 24, "hours per sales meeting incl. preparation", "assumption"),
        "meeting_cadence_days": P(7, "int", 1, 365, "days between meetings on an open opportunity", "assumption"),
        "lead_contact_base": P(0.7, "float", 0, 1, "chance to reach a lead on the day it comes in", "assumption"),
        "lead_decay_per_day": P(0.45, "float", 0, 1, "multiplier on that chance per day of delay", "Oldroyd, McElheran & Elkington, HBR 2011"),
        "max_lead_wait_days": P(14, "int", 0, 365, "days a lead waits before it is dropped", "assumption"),
        "fumble_days": P(21, "int", 1, 3650, "days without a meeting before an opportunity falls back to marketing", "seed 000: filters back to marketing"),
        "intent_meetings": P(2, "int", 0, 100, "meetings in the intent (trial) phase before expertise", "seed 000: Trust = Intent + Expertise"),
        "intent_trust_gain": P(0.05, "float", 0, 1, "trust added per intent-phase meeting", "seed 000"),
        "expertise_trust_gain": P(0.08, "float", 0, 1, "trust added per expertise-phase meeting", "seed 000"),
        "meeting_progress_gain": P(0.06, "float", 0, 1, "decision progress added per meeting", "assumption"),
        "accept_max": P(0.6, "float", 0, 1, "chance a ready, in-market buyer accepts a meeting when asked", "assumption"),
        "dormant_accept": P(0.05, "float", 0, 1, "chance a buyer with no active need accepts a meeting", "assumption: cold-call benchmarks of ~1 meeting per 100 dials"),
        "accept_floor": P(0.05, "float", 0, 1, "chance an unready in-market buyer still accepts a meeting", "assumption"),
        "demand_creation": P(0.3, "float", 0, 1, "chance a meeting with a buyer without an active need starts a buying episode", "Dixon & Adamson 2011, The Challenger Sale: reps can create demand"),
        "qualify_trust": P(0.35, "float", 0, 1, "trust at which a conversation becomes an opportunity", "assumption"),
        "split": {
            "dialing": P(0.25, "float", 0, 1, "share of rep hours spent dialing", "strategy"),
            "meetings": P(0.55, "float", 0, 1, "share of rep hours in meetings", "strategy"),
            "networking": P(0.1, "float", 0, 1, "share of rep hours networking", "strategy"),
            "social": P(0.1, "float", 0, 1, "share of rep hours social selling", "strategy"),
        },
    },
    "policy": {
        "lead_score_threshold": P(0.35, "float", 0, 1, "lead score (mean of progress and trust) to pass a lead to sales", "strategy"),
    },
    "diffusion": {
        # Bass (1969) diffusion, off by default: used to dock the agent model with the analytic
        # Bass curve (scenarios/bass.toml). Rates are per day.
        "p": P(0.0, "float", 0, 1, "per day: external-influence (innovation) hazard of adopting", "Bass 1969"),
        "q": P(0.0, "float", 0, 10, "per day: internal-influence (imitation) hazard at full adoption", "Bass 1969"),
        "mixing": P("full", "str", unit="who imitates whom", source="Bass 1969 (full); network: Fibich & Gibori 2010", choices=("full", "network")),
    },
    "after_sale": {
        "trust_churn_sensitivity": P(2.0, "float", 0, 50, "churn hazard multiplier exp(-k*(trust-0.5))", "assumption"),
        "expansion_rate": P(0.3, "float", 0, 10, "expansions per customer per year", "seed 002: land and expand"),
        "expansion_size": P(0.25, "float", 0, 10, "ACV added per expansion, share of current ACV", "seed 002"),
        "customer_trust_gain": P(0.0003, "float", 0, 1, "daily trust gained by a served customer", "assumption: customer success"),
        "advocacy_trust": P(0.65, "float", 0, 1, "trust above which a customer may advocate", "assumption"),
        "advocacy_rate": P(0.01, "float", 0, 1, "daily chance a trusting customer becomes an advocate", "assumption"),
        "ltv_max_years": P(5.0, "float", 0, 100, "years: horizon H of the contract years counted in LTV, (1 - (1 - c)^H) / c at annual churn c", "assumption: SaaS practice of valuing customers over 3-5 years"),
    },
}

# Sections a strategy may overlay: decisions of the go-to-market team, not facts of the market.
STRATEGY_SECTIONS = ("channels", "sales", "policy")

# CHANNELS, REP_ACTIVITIES and SEGMENTS are the engine's vocabulary (sim.engine.state), imported above.


def lookup(path: str) -> P | dict | None:
    """The schema node at a dotted path, or None."""
    node: Any = SCHEMA
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def defaults(node: dict | None = None) -> dict:
    """The nested dict of default values."""
    node = SCHEMA if node is None else node
    return {k: (defaults(v) if isinstance(v, dict) else _copy(v.default)) for k, v in node.items()}


def _copy(v):
    return list(v) if isinstance(v, list) else v


def leaves(node: dict | None = None, prefix: str = ""):
    """Yield (dotted path, P) for every parameter."""
    node = SCHEMA if node is None else node
    for k, v in node.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from leaves(v, path + ".")
        else:
            yield path, v
