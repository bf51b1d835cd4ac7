"""The fixed parts of the sandbox's HubSpot account: the team, the pipelines, the property
vocabularies, how names and e-mails are made, and the owner and pipeline JSON.

The generator (:mod:`syncd.sandbox.dataset`) decides who does what when; this module says what
the portal is made of. Dates picked in the UI are midnight in the account's time zone,
Europe/Zurich (CET/CEST, EU switching rule), which can fall on the previous UTC day.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

from syncd.sandbox.hubspot_table import format_ms, from_ms, to_ms

DAY = 86_400_000

# --------------------------------------------------------------------------- the team

TEAMS = {
    "front": {"id": "5120001", "name": "Front line"},
    "upsell": {"id": "5120002", "name": "Upsell"},
    "cs": {"id": "5120003", "name": "Customer success"},
}
# id, email, first name, last name, userId, teams (first = primary), archived
OWNERS: tuple[tuple[str, str, str, str, int, tuple[str, ...], bool], ...] = (
    ("75210001", "manager@acme.ch", "Claire", "Morel", 9581001, ("front", "upsell", "cs"), False),
    ("75210002", "lea@acme.ch", "Léa", "Dubois", 9581002, ("front",), False),
    ("75210003", "marc@acme.ch", "Marc", "Favre", 9581003, ("front",), False),
    ("75210004", "julie@acme.ch", "Julie", "Rochat", 9581004, ("front",), False),
    ("75210005", "tom@acme.ch", "Tom", "Meier", 9581005, ("front",), False),
    ("75210006", "paul@acme.ch", "Paul", "Keller", 9581006, ("upsell",), False),
    ("75210007", "sara@acme.ch", "Sara", "Bianchi", 9581007, ("upsell",), False),
    ("75210008", "nina@acme.ch", "Nina", "Schmid", 9581008, ("cs",), False),
    ("75210009", "alex@acme.ch", "Alex", "Perrin", 9581009, ("front",), True),
)
OWNER_VOCAB: tuple[str | None, ...] = (None, *(o[0] for o in OWNERS))
O_MANAGER, O_FRONT, O_UPSELL, O_CS, O_FORMER = 1, (2, 3, 4, 5), (6, 7), 8, 9

DEFAULT_PIPELINE = "default"
UPSELL_PIPELINE = "81530417"
# id, label, probability; the two closed stages last (won, lost)
DEFAULT_STAGES = (
    ("appointmentscheduled", "Appointment scheduled", "0.2"),
    ("qualifiedtobuy", "Qualified to buy", "0.4"),
    ("presentationscheduled", "Presentation scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision maker bought-In", "0.8"),
    ("contractsent", "Contract sent", "0.9"),
    ("closedwon", "Closed won", "1.0"),
    ("closedlost", "Closed lost", "0.0"),
)
UPSELL_STAGES = (
    ("81530418", "Découverte", "0.3"),
    ("81530419", "Proposition", "0.6"),
    ("81530420", "Négociation", "0.8"),
    ("81530421", "Gagné", "1.0"),
    ("81530422", "Perdu", "0.0"),
)
STAGE_IDS = tuple(s[0] for s in DEFAULT_STAGES + UPSELL_STAGES)
WON_STAGES = frozenset({"closedwon", "81530421"})
LOST_STAGES = frozenset({"closedlost", "81530422"})

# --------------------------------------------------------------------------- vocabularies

LIFECYCLE = (None, "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
             "opportunity", "customer", "evangelist", "other")
LIFECYCLE_CODE = {name: i for i, name in enumerate(LIFECYCLE)}
SEGMENTS = (None, "PME", "ETI")
INDUSTRIES = (None, "COMPUTER_SOFTWARE", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE",
              "MACHINERY", "RETAIL", "CONSTRUCTION", "FOOD_PRODUCTION",
              "LOGISTICS_AND_SUPPLY_CHAIN", "MANAGEMENT_CONSULTING")
COUNTRIES = (None, "Switzerland", "France", "Germany", "Italy")
_TLD = ("ch", "ch", "fr", "de", "it")
CURRENCIES = (None, "CHF", "EUR")
DEAL_TYPES = (None, "newbusiness", "existingbusiness")
PIPELINES = (None, DEFAULT_PIPELINE, UPSELL_PIPELINE)
PRODUCTS = ("Abonnement Essentiel", "Abonnement Pro", "Abonnement Entreprise",
            "Utilisateurs supplémentaires", "Module Analytics", "Passage à Pro", "Intégration ERP")
JOB_TITLES = (None, "CEO", "Directeur commercial", "Responsable RevOps", "CFO", "Head of Sales",
              "Office manager", "Geschäftsführer", "Responsabile vendite", "Consultant")
_PREFIX = ("Alpen", "Helvetia", "Léman", "Jura", "Rhône", "Aare", "Säntis", "Pilatus", "Gotthard",
           "Lavaux", "Bernina", "Rigi", "Moléson", "Chasseral", "Engadin", "Ticino", "Limmat",
           "Reuss", "Emme", "Sarine", "Broye", "Gruyère", "Valais", "Simplon", "Napf", "Titlis",
           "Eiger", "Mönch", "Jungfrau", "Cervin", "Salève", "Chablais")
_SUFFIX = ("Tech", "Logistik", "Conseil", "Systems", "Bau", "Medical", "Finance", "Digital",
           "Precision", "Energie", "Foods", "Software", "Solutions", "Immobilier", "Services",
           "Analytics", "Robotics", "Pharma", "Textil", "Transport", "Design", "Media",
           "Industrie", "Assurances")
_FORMS = ("SA", "AG", "Sàrl", "GmbH")
FIRST = ("Léa", "Lucas", "Emma", "Noah", "Chloé", "Luca", "Mia", "Elias", "Sofia", "Louis",
          "Anna", "Gabriel", "Laura", "Nicolas", "Sarah", "David", "Julia", "Thomas", "Camille",
          "Matteo", "Lena", "Hugo", "Alice", "Samuel", "Elena", "Julien", "Nora", "Simon", "Zoé",
          "Leon", "Inès", "Marco", "Clara", "Daniel", "Giulia", "Antoine", "Manon", "Yannick",
          "Aurélie", "Fabio", "Céline", "Stefan", "Andrea", "Martin", "Sandra", "Patrick",
          "Nathalie", "Michael", "Isabelle", "Pascal", "Valérie", "Christian", "Monika",
          "Olivier", "Sabine", "Reto", "Corinne", "Urs", "Chiara", "Luc")
LAST = ("Müller", "Meier", "Schmid", "Keller", "Weber", "Huber", "Schneider", "Meyer",
         "Steiner", "Fischer", "Gerber", "Brunner", "Baumann", "Frei", "Zimmermann", "Moser",
         "Widmer", "Wyss", "Graf", "Roth", "Favre", "Rochat", "Blanc", "Bonvin", "Perret",
         "Morand", "Girard", "Pasche", "Rey", "Jaquet", "Fontana", "Bernasconi", "Rossi",
         "Ferrari", "Bianchi", "Colombo", "Galli", "Lombardi", "Marti", "Bühler", "Kälin",
         "Lüthi", "Fässler", "Zürcher", "Vogel", "Hofmann", "Suter", "Kunz", "Bachmann",
         "Sutter", "Brun", "Chevalier", "Dubois", "Lambert", "Mercier", "Bovet", "Cuendet",
         "Mottier", "Python", "Clerc", "Dupuis", "Vuilleumier", "Jeanneret", "Monnier", "Guex",
         "Rapin", "Tschanz", "Aebischer", "Stalder", "Hess", "Imhof", "Ammann", "Egger",
         "Lehmann", "Wenger", "Studer", "Koller", "Gasser", "Berger", "Schär")
CONSUMER_DOMAINS = ("gmail.com", "bluewin.ch", "outlook.com")


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(c if c.isalnum() else "-" for c in plain)


# --------------------------------------------------------------------------- time helpers


def _last_sunday(year: int, month: int) -> int:
    """Epoch ms of 01:00 UTC on the last Sunday of the month (EU DST switch)."""
    end = datetime(year, month, 31, 1, tzinfo=UTC)
    return to_ms(end) - ((end.weekday() + 1) % 7) * DAY


_DST: dict[int, tuple[int, int]] = {}


def _zurich_offset(ms: int) -> int:
    year = from_ms(ms).year
    span = _DST.get(year)
    if span is None:
        span = _DST[year] = (_last_sunday(year, 3), _last_sunday(year, 10))
    return 7_200_000 if span[0] <= ms < span[1] else 3_600_000


def zurich_midnight(ms: int) -> int:
    """Midnight (Europe/Zurich) of the local day of ``ms``, in UTC: a date picked in the UI."""
    local = ms + _zurich_offset(ms)
    day = local - local % DAY
    guess = day - 3_600_000
    return day - 7_200_000 if _zurich_offset(guess) == 7_200_000 else guess


# --------------------------------------------------------------------------- names


_PREFIX_SLUG = tuple(_slug(p) for p in _PREFIX)
_SUFFIX_SLUG = tuple(_slug(s) for s in _SUFFIX)
_FIRST_SLUG = tuple(_slug(n) for n in FIRST)
_LAST_SLUG = tuple(_slug(n) for n in LAST)


def _company_parts(pos: int) -> tuple[int, int, int, int]:
    block, r = divmod(pos, 3072)
    r = r * 1031 % 3072
    return r % 32, r // 32 % 24, r // 768, block


def company_name(pos: int) -> str:
    """Unique company names: ``Léman Analytics Sàrl``, then ``Léman Analytics Sàrl 2``..."""
    pre, suf, form, block = _company_parts(pos)
    name = f"{_PREFIX[pre]} {_SUFFIX[suf]} {_FORMS[form]}"
    return f"{name} {block + 1}" if block else name


def company_domain(pos: int, country: int) -> str:
    pre, suf, form, block = _company_parts(pos)
    n = block * 4 + form
    return f"{_PREFIX_SLUG[pre]}-{_SUFFIX_SLUG[suf]}{n or ''}.{_TLD[country]}"


def person(pos: int) -> int:
    return pos % 4800 * 2663 % 4800


def contact_local_part(pos: int) -> str:
    """``lea.muller``; unique over all contacts (a number is added past 4,800 names)."""
    p = person(pos)
    block = pos // 4800
    return f"{_FIRST_SLUG[p % 60]}.{_LAST_SLUG[p // 60]}{block or ''}"


# --------------------------------------------------------------------------- owners, pipelines


def owners_json(now: int) -> list[dict[str, Any]]:
    start = now - now % DAY - 3 * 365 * DAY
    owners = []
    for i, (oid, email, first, last, user_id, teams, archived) in enumerate(OWNERS):
        created = format_ms(start + i * 7 * DAY + 36_000_000)
        owners.append({
            "id": oid, "email": email, "type": "PERSON", "firstName": first, "lastName": last,
            "userId": None if archived else user_id, "userIdIncludingInactive": user_id,
            "createdAt": created,
            "updatedAt": format_ms(now - now % DAY - 200 * DAY) if archived else created,
            "archived": archived,
            "teams": [dict(TEAMS[t], primary=j == 0) for j, t in enumerate(teams)],
        })
    return owners


def pipelines_json(now: int) -> list[dict[str, Any]]:
    created = format_ms(now - now % DAY - 3 * 365 * DAY + 32_400_000)
    result = []
    for order, (pid, label, stages) in enumerate(
        ((DEFAULT_PIPELINE, "Sales Pipeline", DEFAULT_STAGES),
         (UPSELL_PIPELINE, "Upsell", UPSELL_STAGES))
    ):
        n = len(stages)
        result.append({
            "id": pid, "label": label, "displayOrder": order, "archived": False,
            "createdAt": created, "updatedAt": created,
            "stages": [
                {"id": sid, "label": slabel, "displayOrder": i, "archived": False,
                 "createdAt": created, "updatedAt": created,
                 "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                 "metadata": {"isClosed": "true" if i >= n - 2 else "false",
                              "probability": prob}}
                for i, (sid, slabel, prob) in enumerate(stages)
            ],
        })
    return result
