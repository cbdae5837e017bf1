"""Scenario files: loading, validation with one clear message, overrides, strategy resolution."""

import textwrap
import tomllib

import pytest

import sim
from sim.config.parameters import leaves
from sim.config.scenario import DEFAULT_SCENARIO


def write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def error_of(tmp_path, text):
    p = write(tmp_path, text)
    with pytest.raises(sim.ScenarioError) as e:
        sim.load_scenario(p)
    msg = str(e.value)
    assert str(p) in msg, "the message names the file"
    assert "\n" not in msg, "one line"
    return msg


def test_default_scenario_loads_with_four_strategies_of_equal_budget():
    s = sim.load_scenario()
    assert s.strategies == ["cold_calling", "content_nurture", "networking", "blended"]
    assert s.horizon_days == 365
    budgets = []
    for name in s.strategies:
        cfg = s.config(name)
        budgets.append(sum(getattr(cfg.channels, c).budget for c in vars(cfg.channels)))
        assert sum(vars(cfg.sales.split).values()) == pytest.approx(1.0)
    assert len(set(budgets)) == 1, f"strategies must share one total budget, got {budgets}"
    assert 1500 <= s.config().market.n_accounts <= 2500


def test_default_toml_lists_every_parameter_with_a_comment():
    """Strategists edit this file: every schema parameter is in it, with unit and source."""
    text = DEFAULT_SCENARIO.read_text()
    data = tomllib.loads(text)
    for path, _spec in leaves():
        node = data
        for part in path.split("."):
            assert part in node, f"{path} missing from scenarios/default.toml"
            node = node[part]
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")) and not line.startswith(("channels.", "sales.", "policy.")):
            assert "# " in line and "Source:" in line, f"uncommented parameter line: {line}"


@pytest.mark.parametrize(
    "text, key, fragment",
    [
        ("[market]\nn_acounts = 10\n", "market.n_acounts", "did you mean 'n_accounts'"),
        ("[market]\nn_accounts = 0\n", "market.n_accounts", "integer from 1"),
        ("[market]\nn_accounts = 'many'\n", "market.n_accounts", "integer"),
        ("[market]\nn_accounts = 10.5\n", "market.n_accounts", "integer"),
        ("[scenario]\nhorizon_days = 0\n", "scenario.horizon_days", "from 1 to"),
        ("[channels.content]\nbudget = -5\n", "channels.content.budget", ">= 0"),
        ("[channels.email]\nopen_rate = 1.5\n", "channels.email.open_rate", "from 0 to 1"),
        ("[channels.campaigns]\nsharing = 'yes'\n", "channels.campaigns.sharing", "true or false"),
        ("[channels.campaigns]\nburst_days = [400]\n", "channels.campaigns.burst_days", "within the horizon"),
        ("[sales.split]\ndialing = 0.9\n", "sales.split", "add up to 1"),
        ("[market.segments.smb]\nshare = 0.9\n", "market.segments.*.share", "add up to 1"),
        ("[market.segments.mid]\ngroup_min = 12\n", "market.segments.mid.group_min", "<= group_max"),
        ("[strategies.x]\nmarket.n_accounts = 5\n", "strategies.x.market", "belongs to the market"),
        ("[strategies.x]\nchannels.content.budgett = 5\n", "strategies.x.channels.content.budgett", "did you mean 'budget'"),
        ("[strategies.x]\nchannels.content.budget = -1\n", "strategies.x.channels.content.budget", ">= 0"),
        ("market = 3\n", "market", "must be a table"),
        ("[bogus]\nx = 1\n", "bogus", "unknown key"),
    ],
)
def test_bad_values_name_file_key_and_what_is_allowed(tmp_path, text, key, fragment):
    msg = error_of(tmp_path, text)
    assert key in msg
    assert fragment in msg


def test_missing_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(sim.ScenarioError, match="file not found"):
        sim.load_scenario(tmp_path / "nope.toml")
    with pytest.raises(sim.ScenarioError, match="is a folder, not a scenario file"):
        sim.load_scenario(tmp_path)
    write(tmp_path, "[strategies.x]\n", name="mine.toml")
    with pytest.raises(sim.ScenarioError, match=r"is a folder, not a scenario file; name a \.toml file in it, "
                                                r"e\.g\. .*mine\.toml"):
        sim.load_scenario(tmp_path)
    assert "not valid TOML" in error_of(tmp_path, "[market\nn_accounts = 3\n")


def test_with_overrides_returns_new_validated_scenario(default_scenario):
    s2 = default_scenario.with_overrides({"market.n_accounts": 5000})
    assert s2.config().market.n_accounts == 5000
    assert default_scenario.config().market.n_accounts == 2000, "the original is unchanged"
    # an override of a strategy-section path wins over what strategies set
    s3 = default_scenario.with_overrides({"channels.content.budget": 1234.0})
    assert all(s3.config(n).channels.content.budget == 1234.0 for n in s3.strategies)
    s4 = default_scenario.with_overrides({"strategies.networking.channels.content.budget": 7.0})
    assert s4.config("networking").channels.content.budget == 7.0
    assert s4.config("blended").channels.content.budget == default_scenario.config("blended").channels.content.budget


@pytest.mark.parametrize(
    "over, fragment",
    [
        ({"market.n_acounts": 5}, "did you mean 'market.n_accounts'"),
        ({"market.n_accounts": -1}, "integer from 1"),
        ({"channels.email.open_rate": 2.0}, "from 0 to 1"),
        ({"market": 3}, "no such parameter"),
        ({"strategies.nope.channels.content.budget": 1.0}, "strategies are"),
        ({"scenario.horizon_days": 0}, "from 1 to"),
    ],
)
def test_bad_overrides(default_scenario, over, fragment):
    with pytest.raises(sim.ScenarioError) as e:
        default_scenario.with_overrides(over)
    assert fragment in str(e.value)
    assert list(over)[0].split(".")[0] in str(e.value)


def test_api_arguments_are_checked(default_scenario):
    with pytest.raises(sim.ScenarioError, match="unknown strategy 'nope'.*cold_calling"):
        sim.run(default_scenario, "nope", 1)
    with pytest.raises(sim.ScenarioError, match="seed"):
        sim.JourneyModel(default_scenario, seed=-1)
    with pytest.raises(sim.ScenarioError, match="scenario"):
        sim.JourneyModel(scenario=42)


def test_scenario_round_trips_through_pickle_and_dict(default_scenario):
    import pickle

    s = default_scenario.with_overrides({"market.n_accounts": 123})
    assert pickle.loads(pickle.dumps(s)) == s
    assert sim.Scenario.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("text", ["", "# nothing here yet\n\n   # [strategies.blended]\n", "[strategies]\n"])
def test_an_empty_scenario_is_refused(tmp_path, text):
    """An empty file (0 bytes, only comments, an empty [strategies]) used to run a made-up 'baseline' strategy
    with $0 programmes; it is refused with one line naming the file and how to fix it."""
    msg = error_of(tmp_path, text)
    assert "has no [strategies]" in msg and "a scenario needs at least one strategy" in msg
    assert "scenarios/default.toml" in msg
    with pytest.raises(sim.ScenarioError, match="has no \\[strategies\\]"):
        sim.Scenario.from_dict({})


def test_a_scenario_without_strategies_gets_a_baseline(tmp_path):
    s = sim.load_scenario(write(tmp_path, "[market]\nn_accounts = 50\n"))
    assert s.strategies == ["baseline"]


def test_scenario_error_survives_pickling_with_its_fields():
    import pickle

    e = sim.ScenarioError("f.toml", "market.n_accounts", "must be >= 1")
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is sim.ScenarioError and str(e2) == str(e) and e2.key == "market.n_accounts"


def test_cross_check_errors_from_overrides_say_so(default_scenario):
    with pytest.raises(sim.ScenarioError, match=r"\(override\).*burst_days"):
        default_scenario.with_overrides({"scenario.horizon_days": 30})


def test_string_choices_are_enforced(default_scenario):
    with pytest.raises(sim.ScenarioError, match='diffusion.mixing.*one of "full", "network"'):
        default_scenario.with_overrides({"diffusion.mixing": "grid"})
