"""Microsoft's own ADF expression engine checks ours (issue 19).

data-factory-testing-framework 1.4.4 (Microsoft's test framework for ADF pipelines) ships the workflow
expression engine ADF's expressions come from; tests/support/adf_engine.py runs it on Mono, in one
process for the whole module. Three comparisons:

- every expression in adf/ (pipelines, datasets, linked services, triggers), in every run state the
  executor produces in its scenarios (tests/support/run_states.py): equal values, or an error in both;
- an edge-case corpus for every function and property our evaluator accepts (tests/support/engine_corpus.py):
  the same, except that our refusing what the engine accepts is allowed when REFUSED lists the case;
- the dependency semantics: the framework's evaluate_pipeline, given the activity results of the
  executor's run, hands out the same activities in the same order and ends the same way, or stops
  where FRAMEWORK_LIMITS says it cannot follow (docs/azure-fidelity.md names those).

Without Mono these tests skip and say why (`make install` as root installs it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest

from company_activity_local.pipeline import expressions
from company_activity_local.pipeline.expressions import EvalContext
from tests.support import adf_engine, engine_corpus, run_states
from tests.support.adf_engine import EngineAnswers, FrameworkRun, Outcome, Scenario
from tests.support.engine_refusals import REFUSED

from .test_expressions import ENGINE_ANSWERS, ERROR

pytestmark = [pytest.mark.mono, pytest.mark.slow]


@dataclass(frozen=True)
class Case:
    """One expression in one context, and where it comes from (a scenario or a corpus group)."""

    origin: str
    text: str
    ctx: EvalContext

    def engine_case(self) -> dict[str, Any]:
        return adf_engine.case_for(self.text, self.ctx)


@dataclass(frozen=True)
class Oracle:
    answers: EngineAnswers
    adf: list[tuple[Case, Outcome]]
    corpus: list[tuple[Case, Outcome]]
    utc_now: list[tuple[Case, Outcome]]
    pinned: list[tuple[Case, Outcome]]
    runs: dict[str, run_states.ScenarioRun]
    framework: dict[str, FrameworkRun]
    recorded_texts: set[str]


def _unique(cases: Iterable[Case]) -> list[Case]:
    seen: dict[str, Case] = {}
    for case in cases:
        seen.setdefault(json.dumps(case.engine_case(), sort_keys=True), case)
    return list(seen.values())


def _framework_scenario(run: run_states.ScenarioRun) -> Scenario:
    """The framework's run of the same pipeline, given each activity's status and output from ours."""
    results: dict[str, list[tuple[str, Any]]] = {}
    for result in run.result.activities:
        if result.status.value in expressions.RAN_STATUSES and result.type not in run_states.CONTROL_TYPES:
            results.setdefault(result.name, []).append((result.status.value, result.output or {}))
    factory = run_states.FACTORY
    parameters = [("Pipeline", name, value) for name, value in run.result.parameters.items()]
    global_parameters = {**factory.global_parameters, **run_states.GLOBALS}
    parameters += [("Global", name, value) for name, value in global_parameters.items()]
    parameters += [("System", "RunId", run.result.run_id), ("System", "DataFactory", factory.name),
                   ("System", "Pipeline", run.pipeline)]
    return Scenario(name=run.name, pipeline=run.pipeline, parameters=parameters, results=results)


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    reason = adf_engine.unavailable_reason()
    if reason:
        pytest.skip(reason)
    runs = {run.name: run for run in run_states.run_all()}
    recorded = [Case(name, text, ctx) for name, run in runs.items() for text, ctx in run.evaluations]
    recorded += [Case("trigger", text, ctx) for text, ctx in run_states.trigger_evaluations()]
    recorded += [Case("linked service", text, ctx)
                 for text, ctx in run_states.unreferenced_linked_service_evaluations()]
    adf_cases = _unique(recorded)
    corpus_cases = [Case(group, text, engine_corpus.context())
                    for group, texts in {**engine_corpus.CORPUS, **engine_corpus.generated()}.items() for text in texts]
    corpus_cases += [Case("dataset scope", text, engine_corpus.dataset_context())
                     for text in engine_corpus.DATASET_CORPUS]
    corpus_cases += [Case("linked service scope", text, engine_corpus.linked_service_context())
                     for text in engine_corpus.LINKED_SERVICE_CORPUS]
    utc_now_cases = [Case("utcNow", text, engine_corpus.context()) for text in engine_corpus.UTC_NOW]
    pinned_cases = [Case("test_expressions.ENGINE_ANSWERS", text, engine_corpus.context())
                    for text, _ in ENGINE_ANSWERS]
    groups = [adf_cases, corpus_cases, utc_now_cases, pinned_cases]
    answers = adf_engine.run_engine([case.engine_case() for group in groups for case in group],
                                    [_framework_scenario(run) for run in runs.values()])
    outcomes = iter(answers.cases)
    adf, corpus, utc_now, pinned = ([(case, next(outcomes)) for case in group] for group in groups)
    return Oracle(
        answers=answers,
        adf=adf,
        corpus=corpus,
        utc_now=utc_now,
        pinned=pinned,
        runs=runs,
        framework={run.name: run for run in answers.runs},
        recorded_texts={case.text for case in recorded},
    )


def _report(problems: list[str], what: str) -> str:
    return f"{len(problems)} {what}:\n" + "\n".join(problems[:25])


def disagreements(pairs: list[tuple[Case, Outcome]], refused: dict[str, str]) -> list[str]:
    """Cases where the engines disagree, other than our listed refusals of what the engine accepts."""
    problems = []
    for case, theirs in pairs:
        mine = adf_engine.ours(case.text, case.ctx)
        if adf_engine.agree(mine, theirs) or (not mine.ok and theirs.ok and case.text in refused):
            continue
        problems.append(f"[{case.origin}] {case.text}\n    ours: {mine.describe()}\n    Microsoft's engine: "
                        f"{theirs.describe()}")
    return problems


# -------------------------------------------------------------------------------------- the oracle


def test_the_oracle_is_the_pinned_framework(oracle: Oracle) -> None:
    assert oracle.answers.versions["data-factory-testing-framework"] == adf_engine.FRAMEWORK_VERSION
    assert oracle.answers.versions["templates"]  # the Microsoft.Azure.Workflows.Templates assembly answered


# ----------------------------------------------------------------------------------- adf/ expressions


def test_every_adf_expression_is_evaluated_in_some_run_state(oracle: Oracle) -> None:
    missing = run_states.every_adf_expression() - oracle.recorded_texts
    assert not missing, f"expressions in adf/ that no scenario evaluates: {sorted(missing)}"


def test_adf_expressions_agree_in_every_run_state(oracle: Oracle) -> None:
    problems = disagreements(oracle.adf, refused={})
    assert not problems, _report(problems, "differences between our evaluator and Microsoft's engine in adf/")
    assert len(oracle.adf) > 100  # every scenario's states, deduplicated


# ------------------------------------------------------------------------------------------ corpus


def test_the_corpus_calls_every_function_and_reads_every_documented_property() -> None:
    texts = [text for texts in engine_corpus.CORPUS.values() for text in texts]
    texts += engine_corpus.DATASET_CORPUS + engine_corpus.LINKED_SERVICE_CORPUS + engine_corpus.UTC_NOW
    called = set().union(*(expressions.called_functions(text) for text in texts if _parses(text)))
    assert set(expressions.FUNCTIONS) <= called, sorted(set(expressions.FUNCTIONS) - called)
    read = set(re.findall(r"pipeline\(\)\??\.(\w+)", " ".join(texts)))
    assert expressions.PIPELINE_PROPERTIES - {"TriggeredByPipelineRunId"} <= read
    for prop in ("output", "Status", "error.message"):
        assert any(f").{prop}" in text for text in texts), prop


def _parses(text: str) -> bool:
    try:
        expressions.parse(text)
    except expressions.ExpressionError:
        return False
    return True


def test_the_corpus_agrees_except_for_listed_refusals(oracle: Oracle) -> None:
    problems = disagreements(oracle.corpus, REFUSED)
    assert not problems, _report(problems, "differences between our evaluator and Microsoft's engine")


def test_every_listed_refusal_is_ours_alone(oracle: Oracle) -> None:
    """A REFUSED case must still be one that Microsoft's engine accepts and we refuse."""
    outcomes = {case.text: (adf_engine.ours(case.text, case.ctx), theirs) for case, theirs in oracle.corpus}
    assert set(REFUSED) <= set(outcomes), sorted(set(REFUSED) - set(outcomes))
    stale = [f"{text}: ours {mine.describe()}; engine {theirs.describe()}"
             for text, (mine, theirs) in outcomes.items() if text in REFUSED and (mine.ok or not theirs.ok)]
    assert not stale, _report(stale, "REFUSED entries that are no longer our refusals")


def test_utc_now_has_the_same_layout(oracle: Oracle) -> None:
    for case, theirs in oracle.utc_now:
        mine = adf_engine.ours(
            case.text, EvalContext(pipeline_name="PL", run_id="run", parameters={}, trigger={}, activities={})
        )  # the real clock, as the engine
        assert mine.ok and theirs.ok, (case.text, mine, theirs)
        assert re.sub("[0-9]", "9", mine.value) == re.sub("[0-9]", "9", theirs.value), (case.text, mine, theirs)


def test_the_answers_pinned_in_test_expressions_are_the_engines(oracle: Oracle) -> None:
    expected = dict(ENGINE_ANSWERS)
    for case, theirs in oracle.pinned:
        want = expected[case.text]
        if want is ERROR:
            assert not theirs.ok, (case.text, theirs)
        else:
            assert theirs.ok and adf_engine.same_value(theirs.value, want), (case.text, theirs)


def test_a_planted_difference_fails_the_comparison(oracle: Oracle) -> None:
    """startsWith made case-sensitive again (its old behaviour) is caught by the corpus."""
    def case_sensitive(ctx: EvalContext, text: Any, prefix: Any) -> bool:
        return str(text).startswith(str(prefix))

    planted = expressions.FunctionSpec(impl=case_sensitive, min_args=2, max_args=2)
    with mock.patch.dict(expressions.FUNCTIONS, {"startswith": planted}):
        problems = disagreements(oracle.corpus, REFUSED)
    assert any("startsWith('Hello', 'he')" in problem for problem in problems)


# -------------------------------------------------------------------------------- dependency order

# Where the framework (1.4.4) cannot follow ADF, and why; docs/azure-fidelity.md has the same list.
FRAMEWORK_LIMITS = {
    "error not passed": "its activity results carry no error, so NoteFailed<X>, which reads "
                        "activity('<X>').error.message, cannot be evaluated",
    "an IfCondition always succeeds": "it never hands out an IfCondition (so a failure of one cannot be set) and "
                                      "does not fail it when an activity of its branch fails, a Fail activity "
                                      "included; it runs what depends on the IfCondition's success instead",
    "no item 0": "it passes no item() when the ForEach item is falsy (0, '', false), so the backfill's first day "
                 "offset, 0, cannot be read; beyond that, it never marks an activity Skipped and reads the "
                 "conditions of one dependency as all required, so RecordFailedDate ([Failed]) after a loaded "
                 "date would never let an iteration end",
}
EXECUTION = {"WaitForManifest", "ReadManifest", "CountStagedUsage", "CheckCrmSnapshot", "MergeFactDailyCompanyActivity"}
CONTROL = {"IfManifestHasRecords", "VerifyUsageAgainstManifest", "IfCrmSnapshotExists"}
EXPECTED_LIMIT: dict[str, str | None] = {
    "green night": None,
    "zero-record day": None,
    "no CRM snapshot": None,
    "manifest date read back as a timestamp": None,
    "usage does not match the manifest": "an IfCondition always succeeds",
    **{f"{failing} fails, {mode}": "error not passed" if failing in EXECUTION else "an IfCondition always succeeds"
       for failing in run_states.CHAIN for mode in run_states.ALERT_MODES},
    "backfill with a failed date": "no item 0",
    "backfill rerun of one date": "no item 0",
    "backfill start a day after end": None,
    "backfill start days after end": None,
}
END_OF_LIMIT = {"error not passed": "error", "an IfCondition always succeeds": "diverged", "no item 0": "error"}


def test_every_scenario_has_an_expectation() -> None:
    assert set(EXPECTED_LIMIT) == set(run_states.scenarios())
    assert set(run_states.CHAIN) == EXECUTION | CONTROL


@pytest.mark.parametrize("name", sorted(run_states.scenarios()))
def test_the_framework_runs_the_same_activities_in_the_same_order(oracle: Oracle, name: str) -> None:
    run, framework = oracle.runs[name], oracle.framework[name]
    ours = [activity for activity, _ in run.ran()]
    limit = EXPECTED_LIMIT[name]
    shown = f"ours: {run.ran()} ({run.result.status}); framework: {framework}"
    if limit is None:
        _same_outcome(run, framework, ours, shown)
        return
    assert framework.end == END_OF_LIMIT[limit], shown
    followed = framework.ran[:-1] if framework.end == "diverged" else framework.ran
    assert followed == ours[:len(followed)] and len(followed) < len(ours), shown
    if limit == "error not passed":
        failing = next(activity for activity, status in run.ran() if status == "Failed")
        assert followed[-1] == failing and f"activity('{failing}').error.message" in framework.detail, shown
    if limit == "no item 0":
        assert "item()" in framework.detail, shown
    for name in framework.failures:  # a Fail activity the framework ran has our message and code
        _same_fail(run, framework, name)


def _same_outcome(run: run_states.ScenarioRun, framework: FrameworkRun, ours: list[str], shown: str) -> None:
    last_name, last_status = run.ran()[-1]
    last = run.result.activity(last_name)
    if last_status == "Failed" and last.error and last.error.error_code == "ExpressionError":
        # The framework raises while evaluating the activity, before handing it out.
        assert framework.end == "error" and framework.ran == ours[:-1], shown
        return
    assert framework.ran == ours, shown
    if run.result.succeeded:
        assert framework.end in ("completed", "no remaining") and not framework.failures, shown
    else:
        assert framework.end == "fail activity" and framework.detail == last_name, shown
        _same_fail(run, framework, last_name)


def _same_fail(run: run_states.ScenarioRun, framework: FrameworkRun, name: str) -> None:
    error = run.result.activity(name).error
    assert error is not None
    assert framework.failures[name] == {"message": error.message, "errorCode": error.error_code}
