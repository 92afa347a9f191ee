"""Benchmark the review pages and the ratings API over real HTTP (issue 5).

    python -m bench.bench_review                        # SQLite
    python -m bench.bench_review --backend postgres     # fresh PostgreSQL db
    python -m bench.bench_review --backend both --requests 200

One student and their partner with --days (default 1,825: five years) of daily
teach-back hours: the scheduled 4-turn session and an extra one each day, so the
student taught about 7,300 turns and listened to as many; ~40 topics, ratings
with notes and jargon words, a few signals per turn, written summaries, self-
ratings; plus --other-pairs pairs with a year each, so every query must filter.
Seeded in bulk (SQLAlchemy Core) into a fresh, migrated database per backend.

The statements per request are counted in-process (Flask test client, a
SQLAlchemy ``before_cursor_execute`` listener); then the real server
(``python app.py --port P`` via tests/support/live_server.py) is timed over HTTP
with keep-alive from 127.0.0.1: the pages with a logged-in browser session, the
API with a bearer token. Prints markdown tables and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import event, func, select

from ally import create_app
from ally.database import upgrade_database
from ally.domain.review import topic_key
from ally.domain.schedule import turn_lengths
from ally.extensions import db
from ally.models import (
    Partnership,
    Profile,
    Rating,
    SessionParticipant,
    Signal,
    TeachSession,
    Topic,
    Turn,
    User,
)
from bench.bench_suggestions import (
    CLOCK_TICK,
    add_backend_arguments,
    machine,
    postgres_database,
    process_cpu_seconds,
    sqlite_database,
    summarize,
)
from bench.seed_users import DEFAULT_SEED, PASSWORD, _insert, build_rows
from tests.support.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SECRET_KEY = "bench-secret-key"
AUTH_LIMIT = "100000 per minute"
CASE_BUDGET_SECONDS = 60.0  # a case stops early rather than run away
TIMEOUT = 60.0
TARGET_P95_MS = 100.0
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

STUDENT_ID, PARTNER_ID = 1, 2
STUDENT_ZONE, PARTNER_ZONE = "America/New_York", "America/Chicago"
# The partnership's daily time, fixed in the partner's zone (as the app does),
# and the time of the extra session held on the same days.
DAILY_MINUTE, EXTRA_MINUTE = 19 * 60, 7 * 60 + 30
MISSED_SHARE = 0.02  # scheduled sessions someone did not come to
RATED_SHARE = 0.97  # the listener rated before the deadline
SUMMARY_SHARE = 0.85  # the teacher wrote a summary
SELF_RATED_SHARE = 0.85
ALLOWED_TERMS = ["angiotensin", "aldosterone", "hemoglobin", "insulin", "sarcomere"]

# (title, subject, jargon words, a plain sentence, a technical sentence)
TOPICS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    (
        "Renin–angiotensin–aldosterone system",
        "Renal",
        ("juxtaglomerular", "angiotensinogen", "macula densa"),
        "When blood pressure drops, the kidney sends out a signal that squeezes "
        "the vessels and makes the body hold on to salt and water.",
        "Juxtaglomerular cells secrete renin, which cleaves angiotensinogen; ACE "
        "then yields angiotensin II, which drives aldosterone release.",
    ),
    (
        "Frank–Starling mechanism",
        "Cardiology",
        ("sarcomere", "preload", "inotropy"),
        "The more the heart fills, the harder it squeezes, like a stretched "
        "rubber band snapping back.",
        "Increased preload lengthens sarcomeres toward optimal filament overlap, "
        "raising stroke volume independent of inotropy.",
    ),
    (
        "Loop diuretics",
        "Pharmacology",
        ("NKCC2", "ototoxicity", "hypokalemia"),
        "They block a salt pump in the kidney loop, so more salt and water leave "
        "in the urine and you lose potassium too.",
        "Furosemide inhibits NKCC2 in the thick ascending limb, abolishing the "
        "medullary gradient; adverse effects include ototoxicity and hypokalemia.",
    ),
    (
        "Nephron transport by segment",
        "Renal",
        ("isosmotic", "countercurrent", "titrates"),
        "Most of the water and salt is taken back early; the later parts of the "
        "tubule fine-tune what is left.",
        "The proximal tubule reabsorbs filtrate isosmotically; the thick "
        "ascending limb dilutes it; the collecting duct titrates water via ADH.",
    ),
    (
        "Cardiac action potential",
        "Cardiology",
        ("depolarization", "plateau", "repolarization"),
        "Sodium rushes in and the cell fires, calcium keeps it going so the heart "
        "can squeeze, and then potassium leaves to reset it.",
        "Phase 0 depolarization via fast sodium channels is followed by a calcium "
        "plateau and potassium-driven repolarization.",
    ),
    (
        "Glycolysis regulation",
        "Biochemistry",
        ("phosphofructokinase", "allosteric", "fructose-2,6-bisphosphate"),
        "Sugar is split for quick energy. When the cell has plenty of energy the "
        "main gate slows down; when it is short, it speeds up.",
        "Phosphofructokinase-1 is the rate-limiting step, inhibited allosterically "
        "by ATP and citrate and activated by fructose-2,6-bisphosphate.",
    ),
    (
        "Oxygen–hemoglobin dissociation curve",
        "Physiology",
        ("cooperativity", "2,3-BPG", "Bohr effect"),
        "Hemoglobin grabs oxygen in the lungs and lets go in busy tissues, where "
        "it is warm, acidic and full of carbon dioxide.",
        "Positive cooperativity gives a sigmoid curve; 2,3-BPG, acidosis and "
        "hyperthermia shift it right via the Bohr effect.",
    ),
    (
        "Acid–base disorders",
        "Renal",
        ("anion gap", "Winter's formula", "compensation"),
        "First ask whether the blood is too acidic or too basic, then whether the "
        "lungs or the kidneys caused it.",
        "Calculate the anion gap, then apply Winter's formula to check whether "
        "respiratory compensation is appropriate.",
    ),
    (
        "Hypersensitivity types",
        "Immunology",
        ("IgE", "immune complex", "degranulation"),
        "Allergy is the immune system overreacting: sometimes within minutes, "
        "sometimes a few days later.",
        "Type I is IgE-mediated mast cell degranulation; type III is immune "
        "complex deposition; type IV is T-cell mediated.",
    ),
    (
        "Complement system",
        "Immunology",
        ("opsonization", "C3b", "membrane attack complex"),
        "Complement is a chain of proteins that tags germs and punches holes in them.",
        "C3b mediates opsonization, C5a chemotaxis, and C5b-9 forms the membrane "
        "attack complex.",
    ),
    (
        "Beta-lactam antibiotics",
        "Microbiology",
        ("transpeptidase", "penicillinase", "peptidoglycan"),
        "These drugs stop bacteria from building their wall, so the bacteria burst.",
        "Beta-lactams bind penicillin-binding proteins, blocking transpeptidase "
        "cross-linking of peptidoglycan; penicillinase confers resistance.",
    ),
    (
        "Insulin and glucagon",
        "Endocrine",
        ("glycogenolysis", "gluconeogenesis", "GLUT4"),
        "After a meal insulin stores sugar away; between meals glucagon lets it "
        "back out.",
        "Insulin upregulates GLUT4 translocation; glucagon stimulates "
        "glycogenolysis and gluconeogenesis via cAMP.",
    ),
    (
        "Thyroid hormone synthesis",
        "Endocrine",
        ("thyroglobulin", "peroxidase", "deiodinase"),
        "The thyroid traps iodine and sticks it onto a protein to make the "
        "hormone that sets your body's speed.",
        "Thyroid peroxidase oxidizes iodide and couples iodotyrosines on "
        "thyroglobulin; peripheral deiodinase converts T4 to T3.",
    ),
    (
        "HPA axis and cortisol",
        "Endocrine",
        ("ACTH", "glucocorticoid", "negative feedback"),
        "Stress tells the brain to tell the adrenal glands to make cortisol, "
        "which then tells the brain to calm down.",
        "CRH stimulates ACTH release, driving glucocorticoid synthesis in the "
        "zona fasciculata, with negative feedback at both levels.",
    ),
    (
        "Coagulation cascade",
        "Hematology",
        ("prothrombin", "fibrinogen", "factor Xa"),
        "A cut starts a chain reaction of blood proteins that ends in a mesh "
        "that plugs the hole.",
        "Factor Xa converts prothrombin to thrombin, which cleaves fibrinogen "
        "into fibrin and activates factor XIII.",
    ),
    (
        "Microcytic anemias",
        "Hematology",
        ("ferritin", "hepcidin", "sideroblastic"),
        "Small pale red cells mean the body cannot make enough of the "
        "oxygen-carrying part, most often for lack of iron.",
        "Low ferritin suggests iron deficiency; raised hepcidin traps iron in "
        "anemia of chronic disease; consider sideroblastic causes.",
    ),
    (
        "Asthma vs COPD",
        "Respiratory",
        ("bronchodilator", "reversibility", "emphysema"),
        "In asthma the airways tighten and then open again; in COPD the damage stays.",
        "Asthma shows bronchodilator reversibility on spirometry; COPD, including "
        "emphysema, shows a fixed obstructive pattern.",
    ),
    (
        "Ventilation–perfusion mismatch",
        "Respiratory",
        ("shunt", "dead space", "hypoxemia"),
        "Air and blood have to meet in the lung; if one shows up without the "
        "other, oxygen does not get in.",
        "A shunt causes hypoxemia refractory to oxygen, whereas dead space "
        "ventilation raises the A–a gradient less.",
    ),
    (
        "Spirometry patterns",
        "Respiratory",
        ("FEV1", "FVC", "restrictive"),
        "Blow out as hard as you can: if air comes out slowly the tubes are "
        "narrow; if there is little air the lungs are small.",
        "An FEV1/FVC ratio below 0.7 indicates obstruction; a restrictive pattern "
        "has a normal or raised ratio with reduced FVC.",
    ),
    (
        "Myasthenia gravis",
        "Neurology",
        ("acetylcholine receptor", "thymoma", "edrophonium"),
        "The body attacks the spot where nerves talk to muscles, so muscles get "
        "weaker the more you use them.",
        "Autoantibodies against the acetylcholine receptor cause fatigable "
        "weakness; associated with thymoma.",
    ),
    (
        "Upper vs lower motor neuron signs",
        "Neurology",
        ("spasticity", "fasciculations", "Babinski"),
        "Damage high up makes muscles stiff and jumpy; damage low down makes "
        "them floppy and thin.",
        "UMN lesions give spasticity, hyperreflexia and a Babinski sign; LMN "
        "lesions give atrophy, fasciculations and hyporeflexia.",
    ),
    (
        "Dopamine pathways",
        "Neurology",
        ("nigrostriatal", "mesolimbic", "tuberoinfundibular"),
        "Dopamine does different jobs in different parts of the brain: movement, "
        "reward, and a brake on milk hormone.",
        "Antipsychotics block mesolimbic D2 receptors but also nigrostriatal and "
        "tuberoinfundibular ones, causing parkinsonism and hyperprolactinemia.",
    ),
    (
        "Warfarin and heparin",
        "Pharmacology",
        ("antithrombin", "vitamin K epoxide reductase", "INR"),
        "Both thin the blood: one works fast through a helper protein, the other "
        "slowly by starving the liver of vitamin K.",
        "Heparin potentiates antithrombin; warfarin inhibits vitamin K epoxide "
        "reductase and is monitored with the INR.",
    ),
    (
        "Cytochrome P450 interactions",
        "Pharmacology",
        ("CYP3A4", "inducer", "inhibitor"),
        "Some drugs speed up the liver's clean-up crew and others slow it down, "
        "which changes how much of a second drug stays around.",
        "Rifampin is a CYP3A4 inducer lowering levels of substrates; "
        "clarithromycin, an inhibitor, raises them.",
    ),
    (
        "Autonomic receptors",
        "Pharmacology",
        ("muscarinic", "adrenergic", "sympathomimetic"),
        "One system is for rest and digest, the other for fight or flight, and "
        "each talks to organs through its own locks.",
        "Muscarinic receptors mediate parasympathetic effects; alpha and beta "
        "adrenergic receptors mediate sympathomimetic effects.",
    ),
    (
        "Sensitivity and specificity",
        "Biostatistics",
        ("false negative", "prevalence", "predictive value"),
        "A sensitive test rarely misses a sick person; a specific test rarely "
        "calls a healthy person sick.",
        "Sensitivity is TP/(TP+FN); predictive value depends on prevalence, "
        "unlike sensitivity and specificity.",
    ),
    (
        "Confounding and bias",
        "Biostatistics",
        ("confounder", "selection bias", "stratification"),
        "Sometimes two things look linked only because a third thing causes both.",
        "A confounder is associated with exposure and outcome; stratification or "
        "randomization controls it, unlike selection bias.",
    ),
    (
        "Cell cycle checkpoints",
        "Pathology",
        ("p53", "cyclin-dependent kinase", "Rb"),
        "Cells check themselves before they copy and before they split; broken "
        "checks let cancer grow.",
        "p53 halts the G1/S transition by inducing p21, which inhibits "
        "cyclin-dependent kinases that phosphorylate Rb.",
    ),
    (
        "Apoptosis vs necrosis",
        "Pathology",
        ("caspase", "karyorrhexis", "inflammation"),
        "Apoptosis is a tidy planned death; necrosis is a messy accident that "
        "makes the area swell.",
        "Apoptosis proceeds via caspase activation with karyorrhexis and no "
        "inflammation; necrosis provokes an inflammatory response.",
    ),
    (
        "Acute inflammation mediators",
        "Pathology",
        ("bradykinin", "prostaglandin", "leukotriene"),
        "Injured tissue sends out chemical alarms that make it red, hot, swollen "
        "and sore.",
        "Bradykinin and prostaglandin E2 mediate pain; leukotriene B4 recruits "
        "neutrophils; histamine increases permeability.",
    ),
    (
        "Lac operon",
        "Biochemistry",
        ("repressor", "CAP", "allolactose"),
        "Bacteria only build the tools to eat milk sugar when it is there and "
        "better food is missing.",
        "Allolactose inactivates the lac repressor; low glucose raises cAMP, "
        "which binds CAP to activate transcription.",
    ),
    (
        "Urea cycle",
        "Biochemistry",
        ("ornithine transcarbamylase", "carbamoyl phosphate", "hyperammonemia"),
        "The liver turns toxic ammonia from protein into urea that the kidneys "
        "can flush out.",
        "Carbamoyl phosphate condenses with ornithine; ornithine transcarbamylase "
        "deficiency causes hyperammonemia and orotic aciduria.",
    ),
    (
        "Lysosomal storage diseases",
        "Biochemistry",
        ("glucocerebrosidase", "sphingolipid", "hexosaminidase"),
        "Cells have rubbish bins that need enzymes to break things down; a "
        "missing enzyme lets rubbish pile up.",
        "Gaucher disease reflects glucocerebrosidase deficiency; Tay-Sachs "
        "reflects hexosaminidase A deficiency, a sphingolipidosis.",
    ),
    (
        "Menstrual cycle hormones",
        "Reproductive",
        ("luteinizing hormone", "corpus luteum", "estradiol"),
        "Hormones rise to grow an egg, a surge releases it, and if no pregnancy "
        "follows the lining is shed.",
        "Rising estradiol triggers the luteinizing hormone surge; the corpus "
        "luteum then secretes progesterone.",
    ),
    (
        "Hepatitis B serology",
        "Microbiology",
        ("HBsAg", "anti-HBc", "window period"),
        "Blood tests tell whether someone has the virus now, had it before, or "
        "was vaccinated.",
        "HBsAg indicates infection; isolated IgM anti-HBc marks the window "
        "period; anti-HBs alone indicates vaccination.",
    ),
    (
        "HIV life cycle",
        "Microbiology",
        ("reverse transcriptase", "integrase", "protease"),
        "The virus gets into immune cells, copies itself into their genes, and "
        "uses them as factories.",
        "Reverse transcriptase makes proviral DNA, integrase inserts it, and "
        "protease cleaves polyproteins; each is a drug target.",
    ),
    (
        "Bilirubin metabolism",
        "Gastrointestinal",
        ("unconjugated", "glucuronidation", "urobilinogen"),
        "Old red cells are broken down into a yellow pigment that the liver "
        "packages and sends out with bile.",
        "Unconjugated bilirubin undergoes hepatic glucuronidation; gut bacteria "
        "convert it to urobilinogen.",
    ),
    (
        "Peptic ulcer disease",
        "Gastrointestinal",
        ("Helicobacter pylori", "proton pump inhibitor", "NSAID"),
        "Stomach acid eats into the lining when its protective layer is damaged "
        "by a germ or by painkillers.",
        "Helicobacter pylori and NSAID use disrupt mucosal defence; treatment "
        "pairs a proton pump inhibitor with antibiotics.",
    ),
    (
        "Nephritic vs nephrotic syndrome",
        "Renal",
        ("proteinuria", "hematuria", "podocyte"),
        "In one the kidney filter leaks blood; in the other it leaks a lot of "
        "protein and the body swells.",
        "Nephrotic syndrome features proteinuria over 3.5 g/day from podocyte "
        "injury; nephritic syndrome features hematuria and RBC casts.",
    ),
    (
        "Heart failure drugs",
        "Cardiology",
        ("afterload", "mineralocorticoid antagonist", "neprilysin"),
        "The drugs take load off a tired heart and stop the body's alarm "
        "signals from wearing it out further.",
        "ACE inhibitors reduce afterload; a mineralocorticoid antagonist and "
        "neprilysin inhibition lower mortality in HFrEF.",
    ),
    (
        "Atherosclerosis",
        "Cardiology",
        ("foam cell", "endothelial dysfunction", "fibrous cap"),
        "Fat gets stuck in the artery wall, builds up into a plaque and can "
        "crack open and block the vessel.",
        "Endothelial dysfunction allows LDL entry; macrophages become foam cells; "
        "rupture of a thin fibrous cap causes thrombosis.",
    ),
    (
        "Diabetes insipidus vs SIADH",
        "Endocrine",
        ("vasopressin", "hyponatremia", "osmolality"),
        "Without the water-keeping hormone you pee litres of dilute urine; with "
        "too much of it you hold water and your salt falls.",
        "Diabetes insipidus reflects absent or ineffective vasopressin; SIADH "
        "causes euvolemic hyponatremia with high urine osmolality.",
    ),
)
GENERIC_PLAIN = (
    "The main idea is balance: the body pushes back when something moves too far.",
    "If this step breaks, everything after it piles up.",
    "Think of it as a thermostat that switches things on and off.",
    "I would draw it as a loop with one arrow going back.",
    "That is why patients feel tired and short of breath.",
    "The exam likes to test the exception, so remember the odd one out.",
    "In short, more in means more out.",
    "You can check it at the bedside with one simple question.",
    "It is like a queue at a shop: the slowest till sets the pace.",
    "Picture a bathtub with the tap on and the plug half out.",
)
GENERIC_TECHNICAL = (
    "This is mediated by a G protein-coupled receptor and a cAMP second messenger.",
    "Negative feedback occurs at the hypothalamic and pituitary levels.",
    "The rate-limiting enzyme is regulated allosterically and by phosphorylation.",
    "Clinically it presents with dyspnea, orthopnea and peripheral edema.",
    "Pathognomonic findings are rare; the diagnosis is largely one of exclusion.",
    "First-pass hepatic metabolism limits oral bioavailability.",
    "Histologically there is interstitial fibrosis with lymphocytic infiltrates.",
)
NOTES = (
    "Lost me at {w}.",
    "What does {w} mean?",
    "Too fast at the start.",
    "Great analogy!",
    "Clear, but skip the word {w}.",
    "Use a picture next time.",
    "I could explain that to my little brother now.",
    "Good, but the order of the steps was confusing.",
    "You read from your notes a lot.",
    "Nice and short.",
    "Start with why it matters.",
    "Define {w} before using it.",
)
SIGNAL_KINDS = ("jargon", "lost", "slower", "clear")


# --- seeding ---------------------------------------------------------------


@dataclass
class Ids:
    """Explicit primary keys, so related rows can be built before inserting."""

    sessions: itertools.count
    turns: itertools.count
    ratings: itertools.count
    signals: itertools.count


@dataclass
class Learner:
    """How one teacher does on each of their topics over time."""

    topics: list[int]  # indexes into TOPICS
    weights: list[float]
    start: dict[int, float]
    end: dict[int, float]
    pace: dict[int, float]  # how fast `start` moves to `end` (per explanation)
    slipping: set[int]  # topics getting worse in the last months
    bias: float  # self-rating minus real level, on average
    taught: Counter

    @classmethod
    def make(cls, rng: random.Random, count: int) -> Learner:
        topics = rng.sample(range(len(TOPICS)), min(count, len(TOPICS)))
        stuck = set(rng.sample(topics, max(1, len(topics) // 7)))
        start, end, pace = {}, {}, {}
        for t in topics:
            start[t] = rng.uniform(1.5, 3.2)
            if t in stuck:  # never gets much simpler: a gap
                end[t] = start[t] + rng.uniform(-0.2, 0.4)
            else:
                end[t] = rng.uniform(3.4, 4.8)
            pace[t] = rng.uniform(0.01, 0.06)
        slipping = set(rng.sample([t for t in topics if t not in stuck], 2))
        return cls(
            topics=topics,
            weights=[rng.uniform(0.5, 2.0) for _ in topics],
            start=start,
            end=end,
            pace=pace,
            slipping=slipping,
            bias=rng.uniform(-0.2, 0.6),
            taught=Counter(),
        )

    def pick(self, rng: random.Random) -> int:
        return rng.choices(self.topics, weights=self.weights)[0]

    def level(self, topic: int, days_left: int) -> float:
        n = self.taught[topic]
        value = self.start[topic] + (self.end[topic] - self.start[topic]) * (
            1 - math.exp(-self.pace[topic] * n)
        )
        if topic in self.slipping and days_left < 90:
            value -= 1.5 * (90 - days_left) / 90
        return value


def _clamp(value: float) -> int:
    return max(1, min(5, round(value)))


def _summary(rng: random.Random, topic: int, score: int) -> str:
    """2–4 sentences, more technical the less simple the explanation was."""
    _, _, _, plain, technical = TOPICS[topic]
    technical_share = (5 - score) / 4
    sentences = [technical if rng.random() < technical_share else plain]
    for _ in range(rng.randint(1, 3)):
        pool = GENERIC_TECHNICAL if rng.random() < technical_share else GENERIC_PLAIN
        sentence = rng.choice(pool)
        if sentence not in sentences:
            sentences.append(sentence)
    rng.shuffle(sentences)
    text = " ".join(sentences)
    while len(text) > 600:
        sentences.pop()
        text = " ".join(sentences)
    return text


def _local(day: date, minute: int, zone: ZoneInfo) -> datetime:
    at = datetime.combine(day, clock(minute // 60, minute % 60), tzinfo=zone)
    return at.astimezone(UTC)


def pair_history(
    rng: random.Random,
    ids: Ids,
    partnership_id: int,
    members: tuple[int, int],
    learners: dict[int, Learner],
    zone: str,
    first_day: date,
    days: int,
    per_day: int,
    rows: dict[str, list[dict[str, Any]]],
) -> None:
    """Every session of one pair from first_day on: scheduled (and extra) ones."""
    tz = ZoneInfo(zone)
    teach, rate = turn_lengths(60, 4)
    for d in range(days):
        day = first_day + timedelta(days=d)
        days_left = days - d
        plan = [("scheduled", DAILY_MINUTE), ("extra", EXTRA_MINUTE)][:per_day]
        for kind, minute in plan:
            starts = _local(day, minute, tz)
            first = rng.randrange(2)
            teachers = (members[first], members[1 - first])
            missed = kind == "scheduled" and rng.random() < MISSED_SHARE
            absent = rng.randrange(2) if missed else None
            session_id = next(ids.sessions)
            at = starts + timedelta(seconds=rng.randint(0, 120))
            session = {
                "id": session_id,
                "partnership_id": partnership_id,
                "scheduled_date": day if kind == "scheduled" else None,
                "local_date": day,
                "kind": kind,
                "starts_at": starts,
                "ends_at": starts + timedelta(minutes=60),
                "status": "missed" if missed else "completed",
                "phase": "done",
                "current_turn": 0 if missed else 4,
                "turns": 4,
                "teach_seconds": teach,
                "rate_seconds": rate,
                "first_teacher_id": teachers[0],
                "second_teacher_id": teachers[1],
                "started_at": None if missed else at,
                "ended_at": starts + timedelta(minutes=10),
                "version": 0 if missed else 13,
                "created_at": starts - timedelta(hours=2),
            }
            rows["teach_sessions"].append(session)
            for k, user in enumerate(members):
                came = not missed or k != absent
                rows["session_participants"].append(
                    {
                        "session_id": session_id,
                        "user_id": user,
                        "planned_topic": None,
                        "joined_at": at if came else None,
                        "absent": not came,
                        "reminder_sent_at": starts - timedelta(minutes=10),
                    }
                )
            if missed:
                continue
            for index in range(4):
                teacher = teachers[index % 2]
                listener = teachers[1 - index % 2]
                at = _turn(
                    rng,
                    ids,
                    session_id,
                    index,
                    teacher,
                    listener,
                    at,
                    learners[teacher],
                    days_left,
                    teach,
                    rate,
                    rows,
                )
            session["ended_at"] = at


def _turn(
    rng: random.Random,
    ids: Ids,
    session_id: int,
    index: int,
    teacher: int,
    listener: int,
    at: datetime,
    learner: Learner,
    days_left: int,
    teach: int,
    rate: int,
    rows: dict[str, list[dict[str, Any]]],
) -> datetime:
    """One turn with its summary, self-rating, signals and rating; its end."""
    topic = learner.pick(rng)
    title, _, jargon_words, _, _ = TOPICS[topic]
    level = learner.level(topic, days_left)
    learner.taught[topic] += 1
    score = _clamp(level + rng.gauss(0, 0.7))
    spoke = rng.randint(int(teach * 0.6), teach)
    rated_after = rng.randint(30, rate)
    turn_id = next(ids.turns)
    signals = max(0, 4 - score) + rng.randint(1, 3)
    flags = 0
    for _ in range(signals):
        kind = rng.choices(SIGNAL_KINDS, weights=(4, 3, 2, 2 if score >= 4 else 1))[0]
        offset = rng.randint(5, spoke - 1) * 1000
        flags += kind == "jargon"
        rows["signals"].append(
            {
                "id": next(ids.signals),
                "session_id": session_id,
                "turn_id": turn_id,
                "user_id": listener,
                "kind": kind,
                "word": rng.choice(jargon_words) if kind == "jargon" else None,
                "at": at + timedelta(milliseconds=offset),
                "offset_ms": offset,
            }
        )
    wrote = rng.random() < SUMMARY_SHARE
    rated_self = rng.random() < SELF_RATED_SHARE
    rows["turns"].append(
        {
            "id": turn_id,
            "session_id": session_id,
            "index": index,
            "teacher_id": teacher,
            "listener_id": listener,
            "topic": title,
            "topic_key": topic_key(title),
            "started_at": at,
            "teach_ends_at": at + timedelta(seconds=spoke),
            "rating_ends_at": at + timedelta(seconds=spoke + rated_after),
            "ended_at": at + timedelta(seconds=spoke + rated_after),
            "summary": _summary(rng, topic, score) if wrote else None,
            "summary_at": at + timedelta(seconds=spoke + 25) if wrote else None,
            "self_simplicity": (
                _clamp(level + learner.bias + rng.gauss(0, 0.8)) if rated_self else None
            ),
            "self_rated_at": at + timedelta(seconds=spoke + 15) if rated_self else None,
            "jargon_flags": flags,
        }
    )
    if rng.random() < RATED_SHARE:
        named = (
            rng.sample(jargon_words, rng.randint(0, min(3, 4 - score)))
            if score <= 3
            else []
        )
        note = ""
        if rng.random() < 0.45:
            note = rng.choice(NOTES).format(w=rng.choice(jargon_words))
        rows["ratings"].append(
            {
                "id": next(ids.ratings),
                "turn_id": turn_id,
                "session_id": session_id,
                "rater_id": listener,
                "teacher_id": teacher,
                "simplicity": score,
                "note": note,
                "jargon": named,
                "created_at": at + timedelta(seconds=spoke + rated_after),
            }
        )
    return at + timedelta(seconds=spoke + rated_after)


def build_world(
    days: int, per_day: int, other_pairs: int, other_days: int, seed: int, now: datetime
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """All rows: users, profiles, topics, partnerships and their histories."""
    rng = random.Random(seed)
    users, profiles = build_rows(2 + 2 * other_pairs, seed, now.date(), now)
    users[0]["timezone"], users[1]["timezone"] = STUDENT_ZONE, PARTNER_ZONE
    for profile in profiles:
        profile["looking_for_partner"] = False
        profile["allowed_terms"] = []
    profiles[0]["allowed_terms"] = list(ALLOWED_TERMS)
    rows: dict[str, list[dict[str, Any]]] = {
        "users": users,
        "profiles": profiles,
        "topics": [],
        "partnerships": [],
        "teach_sessions": [],
        "session_participants": [],
        "turns": [],
        "ratings": [],
        "signals": [],
    }
    ids = Ids(*(itertools.count(1) for _ in range(4)))
    topic_ids = itertools.count(1)
    yesterday = now.astimezone(ZoneInfo(PARTNER_ZONE)).date() - timedelta(days=1)
    pairs = [(STUDENT_ID, PARTNER_ID, days, per_day)] + [
        (3 + 2 * k, 4 + 2 * k, other_days, 1) for k in range(other_pairs)
    ]
    for number, (a, b, span, sessions_a_day) in enumerate(pairs, start=1):
        learners = {}
        for user in (a, b):
            learners[user] = Learner.make(rng, 40 if user <= PARTNER_ID else 25)
            for t in learners[user].topics:
                title, subject = TOPICS[t][:2]
                rows["topics"].append(
                    {
                        "id": next(topic_ids),
                        "user_id": user,
                        "title": title,
                        "title_key": title.casefold(),
                        "subject": subject,
                        "created_at": now - timedelta(days=span + 1),
                    }
                )
        first_day = yesterday - timedelta(days=span - 1)
        zone = users[b - 1]["timezone"]
        rows["partnerships"].append(
            {
                "id": number,
                "user_a_id": a,
                "user_b_id": b,
                "daily_minute": DAILY_MINUTE,
                "timezone": zone,
                "session_minutes": 60,
                "turns": 4,
                "weekdays": 127,
                "status": "active",
                "created_at": _local(first_day, 0, ZoneInfo(zone)) - timedelta(days=1),
            }
        )
        pair_history(
            rng,
            ids,
            number,
            (a, b),
            learners,
            zone,
            first_day,
            span,
            sessions_a_day,
            rows,
        )
    taught = [t for t in rows["turns"] if t["teacher_id"] == STUDENT_ID]
    listened = [t for t in rows["turns"] if t["listener_id"] == STUDENT_ID]
    by_topic = Counter(t["topic_key"] for t in taught)
    facts = {
        "student_turns_taught": len(taught),
        "student_turns_listened": len(listened),
        "student_topics": len(by_topic),
        "student_sessions": sum(
            s["partnership_id"] == 1 for s in rows["teach_sessions"]
        ),
        "student_ratings_received": sum(
            r["teacher_id"] == STUDENT_ID for r in rows["ratings"]
        ),
        "student_ratings_given": sum(
            r["rater_id"] == STUDENT_ID for r in rows["ratings"]
        ),
        "student_summaries": sum(t["summary"] is not None for t in taught),
        "busiest_topic_key": by_topic.most_common(1)[0][0],
        "history": f"{rows['teach_sessions'][0]['local_date']} .. {yesterday}",
        **{f"rows_{table}": len(items) for table, items in rows.items()},
    }
    return rows, facts


def _bench_app(url: str):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": SECRET_KEY,
            "ALLY_SCHEDULER": "off",
            "RATELIMIT_ENABLED": False,
        }
    )


def seed(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Migrate the fresh database and bulk-insert the world; returns the facts."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    rows, facts = build_world(
        args.days,
        args.sessions_per_day,
        args.other_pairs,
        args.other_days,
        args.seed,
        now,
    )
    built = time.perf_counter() - started
    app = _bench_app(url)
    upgrade_database(app)
    models = {
        "users": User,
        "profiles": Profile,
        "topics": Topic,
        "partnerships": Partnership,
        "teach_sessions": TeachSession,
        "session_participants": SessionParticipant,
        "turns": Turn,
        "ratings": Rating,
        "signals": Signal,
    }
    with app.app_context():
        for table, model in models.items():
            _insert(model.__table__, rows[table])
        if db.engine.dialect.name == "postgresql":
            # Explicit ids were inserted: move each sequence past them.
            for table in models:
                if table in ("profiles", "session_participants"):
                    continue
                db.session.execute(
                    db.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        facts["student_email"] = db.session.scalar(
            select(User.email).where(User.id == STUDENT_ID)
        )
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(Turn)
                .where(Turn.teacher_id == STUDENT_ID)
            )
            == facts["student_turns_taught"]
        )
        db.session.remove()
        db.engine.dispose()
    facts["build_seconds"] = round(built, 1)
    facts["seed_seconds"] = round(time.perf_counter() - started, 1)
    return facts


# --- the cases ---------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request shape: a page (logged-in browser) or an API call (token)."""

    name: str
    kind: str  # "page" or "api"
    path: str
    check: Callable[[requests.Response | Any, dict[str, Any]], None]


def _text(resp) -> str:
    if isinstance(resp, requests.Response):
        return resp.text
    return resp.get_data(as_text=True)  # the Flask test client's response


def _json(resp) -> Any:
    return resp.json() if isinstance(resp, requests.Response) else resp.get_json()


def _check_overview(resp, facts) -> None:
    html = _text(resp)
    assert f"<strong>{facts['student_turns_taught']}</strong> explanations" in html
    assert 'class="chart"' in html and "Teach again" in html


def _check_topic(resp, facts) -> None:
    _check_overview(resp, facts)
    assert "selected>" in _text(resp)


def _check_explanations(resp, facts) -> None:
    assert _text(resp).count('<article class="explanation"') == 20


def _check_given(resp, facts) -> None:
    # Cells carry data-label attributes (tables reflow on phones).
    assert _text(resp).count("<tr><td") == 20


def _check_summary(resp, facts) -> None:
    body = _json(resp)
    assert body["explanations"] == facts["student_turns_taught"], body["explanations"]
    assert body["rated"] == facts["student_ratings_received"]
    assert len(body["topics"]) == facts["student_topics"]


def _check_ratings(resp, facts) -> None:
    body = _json(resp)
    assert body["total"] == facts["student_ratings_received"]
    assert len(body["items"]) == 20
    assert all(item["teacher_id"] == STUDENT_ID for item in body["items"])


def cases(facts: dict[str, Any]) -> list[Case]:
    """The request shapes timed, in order."""
    pages = -(-facts["student_turns_taught"] // 20)
    deep = max(1, pages - 1)
    facts["deep_page"] = f"{deep} of {pages}"
    return [
        Case("/review", "page", "/review", _check_overview),
        Case(
            "/review?topic=<busiest>",
            "page",
            f"/review?topic={requests.utils.quote(facts['busiest_topic_key'])}",
            _check_topic,
        ),
        Case(
            "/review/explanations", "page", "/review/explanations", _check_explanations
        ),
        Case(
            f"/review/explanations?page={deep}",
            "page",
            f"/review/explanations?page={deep}",
            _check_explanations,
        ),
        Case("/review/given", "page", "/review/given", _check_given),
        Case(
            "GET /api/v1/ratings/summary",
            "api",
            "/api/v1/ratings/summary",
            _check_summary,
        ),
        Case(
            "GET /api/v1/ratings?role=received",
            "api",
            "/api/v1/ratings?role=received",
            _check_ratings,
        ),
    ]


EXPORT_PATH = "/review/export.csv"


def _check_export(body: str, facts: dict[str, Any]) -> int:
    lines = body.count("\n")  # header + one line per row (notes have no newlines)
    assert lines - 1 == facts["student_turns_taught"], lines
    return lines - 1


# --- in-process: statements per request ----------------------------------------


def _shape(statement: str) -> str:
    return re.sub(r"\s+", " ", statement).strip()[:110]


def _login_test_client(client, email: str) -> None:
    html = client.get("/login").get_data(as_text=True)
    token = CSRF_INPUT.search(html)[1]
    resp = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 302, resp.status_code


def count_queries(url: str, facts: dict[str, Any], all_cases: list[Case]) -> dict:
    """SQL statements per request of each case, through the whole Flask stack."""
    from ally.services import tokens

    app = _bench_app(url)
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(_shape(statement))

    out: dict[str, Any] = {}
    with app.app_context():
        raw = tokens.create_token(STUDENT_ID, "bench-count")[1]
        db.session.remove()
        client = app.test_client()
        _login_test_client(client, facts["student_email"])
        headers = {"Authorization": f"Bearer {raw}"}
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            for case in all_cases:
                runs = []
                for round_ in ("first", "repeat", "repeat"):
                    statements.clear()
                    started = time.perf_counter()
                    resp = client.get(
                        case.path, headers=headers if case.kind == "api" else None
                    )
                    elapsed = (time.perf_counter() - started) * 1000
                    assert resp.status_code == 200, (case.path, resp.status_code)
                    case.check(resp, facts)
                    runs.append(
                        {
                            "round": round_,
                            "queries": len(statements),
                            "in_process_ms": round(elapsed, 1),
                            "statements": list(statements),
                        }
                    )
                out[case.name] = {
                    "queries_first": runs[0]["queries"],
                    "queries_repeat": runs[-1]["queries"],
                    "in_process_ms_repeat": runs[-1]["in_process_ms"],
                    "statements": runs[-1]["statements"],
                }
            statements.clear()
            started = time.perf_counter()
            resp = client.get(EXPORT_PATH)
            elapsed = (time.perf_counter() - started) * 1000
            assert resp.status_code == 200
            _check_export(resp.get_data(as_text=True), facts)
            out["export"] = {
                "queries_first": len(statements),
                "queries_repeat": len(statements),
                "in_process_ms_repeat": round(elapsed, 1),
                "statements": list(statements),
            }
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
            db.session.remove()
            db.engine.dispose()
    return out


def profile_cases(
    url: str, facts: dict[str, Any], all_cases: list[Case], stem: str, repeat: int
) -> dict[str, str]:
    """pyinstrument text reports of `repeat` in-process requests per case."""
    from pyinstrument import Profiler

    from ally.services import tokens

    app = _bench_app(url)
    written = {}
    with app.app_context():
        raw = tokens.create_token(STUDENT_ID, "bench-profile")[1]
        db.session.remove()
        client = app.test_client()
        _login_test_client(client, facts["student_email"])
        headers = {"Authorization": f"Bearer {raw}"}
        for case in all_cases:
            kwargs = {"headers": headers} if case.kind == "api" else {}
            client.get(case.path, **kwargs)  # warm
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for _ in range(repeat):
                client.get(case.path, **kwargs)
            profiler.stop()
            slug = re.sub(r"[^a-z0-9]+", "-", case.name.lower()).strip("-")
            path = RESULTS / f"{stem}-profile-{slug}.txt"
            path.write_text(
                f"# {case.name}: {repeat} requests, in-process\n"
                + profiler.output_text(unicode=True, color=False, show_all=False)
            )
            written[case.name] = str(path.relative_to(ROOT))
        db.session.remove()
        db.engine.dispose()
    return written


# --- over HTTP -------------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICK


def own_cpu_seconds() -> float:
    """User + system CPU of this process (the HTTP client)."""
    times = os.times()
    return times.user + times.system


def _login(session: requests.Session, base: str, email: str) -> None:
    html = session.get(f"{base}/login", timeout=TIMEOUT).text
    token = CSRF_INPUT.search(html)[1]
    resp = session.post(
        f"{base}/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    if resp.status_code != 302:
        raise RuntimeError(f"login failed: {resp.status_code} {resp.text[:300]}")


def bench_http(url: str, facts: dict[str, Any], all_cases: list[Case], args) -> dict:
    """Start the real server on `url` and time each case over HTTP."""
    log = Path(tempfile.gettempdir()) / f"ally-bench-review-{os.getpid()}.log"
    server = LiveServer(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "ALLY_SCHEDULER": "off",
            "ALLY_AUTH_RATE_LIMIT": AUTH_LIMIT,
            "ALLY_REVIEW_CACHE_SIZE": str(args.review_cache_size),
        },
        log_path=log,
        startup_timeout=60,
    )
    out: dict[str, Any] = {"server_command": " ".join(server.command[1:])}
    with server, requests.Session() as browser, requests.Session() as api:
        base = server.url
        assert urlsplit(base).hostname == "127.0.0.1"
        pid = server.process.pid
        _login(browser, base, facts["student_email"])
        resp = api.post(
            f"{base}/api/v1/auth/token",
            json={
                "email": facts["student_email"],
                "password": PASSWORD,
                "name": "bench",
            },
            timeout=TIMEOUT,
        )
        resp.raise_for_status()
        headers = {"Authorization": f"Bearer {resp.json()['token']}"}
        out["loadavg_before_requests"] = [round(x, 2) for x in os.getloadavg()]
        out["cases"] = {}
        for case in all_cases:
            session, extra = (api, headers) if case.kind == "api" else (browser, None)

            def get(case=case, session=session, extra=extra) -> tuple[float, int]:
                started = time.perf_counter()
                resp = session.get(
                    base + case.path,
                    headers=extra,
                    timeout=TIMEOUT,
                    allow_redirects=False,
                )
                elapsed = (time.perf_counter() - started) * 1000
                if resp.status_code != 200:
                    raise RuntimeError(f"{case.path}: {resp.status_code}")
                return elapsed, len(resp.content)

            # The first request of this shape the process serves, then checked.
            cold, size = get()
            resp = session.get(base + case.path, headers=extra, timeout=TIMEOUT)
            case.check(resp, facts)
            for _ in range(args.warmup):
                get()
            latencies = []
            cpu_before = process_cpu_seconds(pid)
            own_before, busy_before = own_cpu_seconds(), machine_busy_seconds()
            started = time.perf_counter()
            for _ in range(args.requests):
                latencies.append(get()[0])
                if time.perf_counter() - started > CASE_BUDGET_SECONDS:
                    break
            wall = time.perf_counter() - started
            spent = process_cpu_seconds(pid) - cpu_before
            own = own_cpu_seconds() - own_before
            busy = machine_busy_seconds() - busy_before
            result = summarize(latencies, wall)
            result["server_cpu_ms_per_request"] = round(
                spent * 1000 / result["requests"], 1
            )
            # Busy CPU that was neither the server nor this client (PostgreSQL's
            # backend counts here too), in cores: someone else using the box.
            result["other_cpu_cores"] = round((busy - spent - own) / wall, 2)
            result["cold_first_ms"] = round(cold, 1)
            result["bytes"] = size
            result["loadavg_after"] = round(os.getloadavg()[0], 2)
            out["cases"][case.name] = result
            print(
                f"   {case.name}: p50 {result['p50_ms']} p95 {result['p95_ms']} ms",
                file=sys.stderr,
                flush=True,
            )
        # The CSV export, once: a download, not a page.
        cpu_before = process_cpu_seconds(pid)
        started = time.perf_counter()
        resp = browser.get(base + EXPORT_PATH, timeout=TIMEOUT)
        elapsed = (time.perf_counter() - started) * 1000
        spent = process_cpu_seconds(pid) - cpu_before
        resp.raise_for_status()
        out["export"] = {
            "ms": round(elapsed, 1),
            "server_cpu_ms": round(spent * 1000, 1),
            "bytes": len(resp.content),
            "rows": _check_export(resp.text, facts),
        }
        out["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


# --- driver --------------------------------------------------------------------


def wait_until_quiet(limit: float, max_minutes: float = 40) -> dict[str, Any]:
    """Poll the 1-minute load average every 30 s until it is below `limit` and,
    over the next 5 s, less than a third of a core is busy (someone who waited
    for the same load average may just have started)."""
    started = time.monotonic()
    deadline = started + max_minutes * 60
    while True:
        load = os.getloadavg()
        busy_now = None
        if load[0] < limit:
            before = machine_busy_seconds()
            time.sleep(5)
            busy_now = round((machine_busy_seconds() - before) / 5, 2)
        quiet = busy_now is not None and busy_now < 0.33
        if quiet or time.monotonic() >= deadline:
            return {
                "loadavg": [round(x, 2) for x in load],
                "busy_cores_5s": busy_now,
                "quiet": quiet,
                "waited_seconds": round(time.monotonic() - started),
            }
        print(
            f"   load average {load[0]:.2f}, busy cores {busy_now}: waiting 30 s",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(30 + random.uniform(0, 10))  # not in step with other waiters


def run_backend(backend: str, args: argparse.Namespace, stem: str) -> dict[str, Any]:
    """Seed one fresh database, count statements, time over HTTP."""
    database = (
        sqlite_database(args.days)
        if backend == "sqlite"
        else postgres_database(args.postgres_url)
    )
    with database as url:
        print(f"[{backend}] seeding ...", file=sys.stderr, flush=True)
        facts = seed(url, args)
        print(
            f"[{backend}] {facts['student_turns_taught']} turns taught, "
            f"{facts['rows_turns']} turns, {facts['rows_signals']} signals "
            f"in {facts['seed_seconds']} s",
            file=sys.stderr,
            flush=True,
        )
        all_cases = cases(facts)
        queries = count_queries(url, facts, all_cases)
        quiet = wait_until_quiet(args.wait_quiet) if args.wait_quiet else None
        print(f"[{backend}] HTTP benchmark ...", file=sys.stderr, flush=True)
        http = bench_http(url, facts, all_cases, args)
        profiles = (
            profile_cases(url, facts, all_cases, f"{stem}-{backend}", args.profile)
            if args.profile
            else None
        )
    return {
        "backend": backend,
        "seed": facts,
        "queries": queries,
        "quiet": quiet,
        "http": http,
        "profiles": profiles,
    }


def extra_machine() -> dict[str, Any]:
    """Which code ran: files under ally/ differing from HEAD, a hash of ally/."""
    info: dict[str, Any] = {}
    digest = hashlib.sha256()
    for path in sorted((ROOT / "ally").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    info["ally_sha256"] = digest.hexdigest()[:16]
    try:
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "ally"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        info["ally_changes_vs_head"] = (
            [line.strip() for line in changed.stdout.splitlines()]
            if changed.returncode == 0
            else "not a git checkout"
        )
    except OSError:
        pass
    info["root"] = str(ROOT)
    return info


def markdown(results: list[dict[str, Any]]) -> str:
    """The tables for docs/performance.md."""
    lines = [
        "| Backend | Case | Requests | cold ms | p50 ms | p95 ms | p99 ms | max ms "
        "| server CPU ms/req | other CPU (cores) | SQL statements | KiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        b = res["backend"]
        for name, s in res["http"]["cases"].items():
            q = res["queries"][name]
            count = (
                str(q["queries_repeat"])
                if q["queries_first"] == q["queries_repeat"]
                else f"{q['queries_repeat']} ({q['queries_first']} first)"
            )
            p95 = f"**{s['p95_ms']}**" if s["p95_ms"] > TARGET_P95_MS else s["p95_ms"]
            lines.append(
                f"| {b} | `{name}` | {s['requests']} | {s['cold_first_ms']} "
                f"| {s['p50_ms']} | {p95} | {s['p99_ms']} | {s['max_ms']} "
                f"| {s['server_cpu_ms_per_request']} | {s['other_cpu_cores']} "
                f"| {count} "
                f"| {s['bytes'] / 1024:.0f} |"
            )
    lines += [
        "",
        "| Backend | CSV export (once) | ms | server CPU ms | rows | KiB "
        "| SQL statements |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        e = res["http"]["export"]
        lines.append(
            f"| {res['backend']} | `{EXPORT_PATH}` | {e['ms']} | {e['server_cpu_ms']} "
            f"| {e['rows']:,} | {e['bytes'] / 1024:.0f} "
            f"| {res['queries']['export']['queries_repeat']} |"
        )
    lines.append("")
    for res in results:
        http = res["http"]
        lines.append(
            f"{res['backend']}: 1-min load average "
            f"{http['loadavg_before_requests'][0]} before the requests, "
            f"{http['loadavg_at_end'][0]} after the export."
        )
    worst = max(
        (s["p95_ms"], r["backend"], n)
        for r in results
        for n, s in r["http"]["cases"].items()
    )
    verdict = "met" if worst[0] < TARGET_P95_MS else "NOT met"
    lines += [
        "",
        f"Target p95 < {TARGET_P95_MS:.0f} ms: {verdict} "
        f"(worst p95 {worst[0]} ms, {worst[1]} `{worst[2]}`).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_arguments(parser)
    parser.add_argument("--days", type=int, default=1825, help="the student's history")
    parser.add_argument(
        "--sessions-per-day",
        type=int,
        choices=(1, 2),
        default=2,
        help="2: the scheduled session and an extra one (4 turns each)",
    )
    parser.add_argument("--other-pairs", type=int, default=10)
    parser.add_argument("--other-days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=200, help="per case")
    parser.add_argument("--warmup", type=int, default=10, help="per case")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=1.0,
        help="before timing, wait (up to 40 min) for the 1-min load below this; 0: no",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also write pyinstrument reports of N in-process requests per case",
    )
    parser.add_argument(
        "--review-cache-size",
        type=int,
        default=64,
        help="the server's ALLY_REVIEW_CACHE_SIZE; 0: every request recomputes "
        "the figures, as the first visit after a change does",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--label", default="", help="added to the result file name (e.g. patched)"
    )
    args = parser.parse_args(argv)

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    label = f"-{args.label}" if args.label else ""
    stem = f"review-{args.backend}{label}-{stamp}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = [run_backend(b, args, stem) for b in backends]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.bench_review", *sys.argv[1:]]),
        "machine": {
            **machine(args.postgres_url if "postgres" in backends else None),
            **extra_machine(),
        },
        "loadavg_at_start": load_before,
        "settings": {k: v for k, v in vars(args).items() if k != "postgres_url"},
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    table = markdown(results)
    report["markdown"] = table
    path = RESULTS / f"{stem}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report["machine"], indent=2))
    for res in results:
        print(
            f"{res['backend']}: load {res['quiet']}, "
            f"seed {res['seed']['seed_seconds']} s, "
            f"{res['seed']['student_turns_taught']} turns taught"
        )
    print(table)
    print(f"\n{report['total_seconds']} s in all; JSON: {path.relative_to(ROOT)}")
    return report


QUICK_ARGV = ["--days", "180", "--other-pairs", "2", "--other-days", "60"]
QUICK_ARGV += ["--requests", "40", "--warmup", "3", "--wait-quiet", "0"]


def rows(full: bool) -> list:
    """Suite rows (bench/suite.py): one per timed case."""
    from bench.suite import Row

    report = main([] if full else QUICK_ARGV)
    found = []
    for res in report["results"]:
        for name, s in res["http"]["cases"].items():
            found.append(
                Row(
                    scenario=f"review: {name}",
                    size=f"{res['seed']['student_turns_taught']:,} turns, "
                    f"{res['backend']}",
                    p50_ms=s["p50_ms"],
                    p95_ms=s["p95_ms"],
                    p99_ms=s["p99_ms"],
                    server_cpu=f"{s['server_cpu_ms_per_request']} ms/req",
                    note=f"{s['requests']} requests, cold {s['cold_first_ms']} ms",
                )
            )
    return found


if __name__ == "__main__":
    main()
