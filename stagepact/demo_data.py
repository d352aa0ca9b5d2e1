"""The invented content of the demo: organisations, people, reports and what happens next.

Nothing here is real. Schools, ADVs and learning companies are made up; every
address ends in .example or example.org; the reports are typical of what the
Inspectie and the Stagepact describe, written for the demo.
"""

from __future__ import annotations

from typing import NamedTuple

from .intake import ReportData
from .vocab import Channel, Outcome, Role

# --- Organisations and people ---------------------------------------------------------

ADVS = {
    "amsterdam": dict(
        name="Antidiscriminatiebureau Amstelland (demo)",
        region="Amsterdam-Amstelland",
        municipalities="Amsterdam, Amstelveen, Diemen, Ouder-Amstel",
        email="meldpunt@adv-amstelland.example.org",
        phone="020 000 0101",
        website="https://adv-amstelland.example.org",
    ),
    "rotterdam": dict(
        name="Antidiscriminatiebureau Maasmond (demo)",
        region="Rijnmond",
        municipalities="Rotterdam, Schiedam, Vlaardingen, Capelle aan den IJssel",
        email="meldpunt@adv-maasmond.example.org",
        phone="010 000 0202",
        website="https://adv-maasmond.example.org",
    ),
    "utrecht": dict(
        name="Antidiscriminatiebureau Domstreek (demo)",
        region="Midden-Nederland",
        municipalities="Utrecht, Nieuwegein, Houten, Zeist",
        email="meldpunt@adv-domstreek.example.org",
        phone="030 000 0303",
        website="https://adv-domstreek.example.org",
    ),
}


class DemoInstitution(NamedTuple):
    name: str
    brin: str
    slug: str
    city: str
    region: str
    adv: str
    colour: str
    domain: str
    intro_text: str
    staff: tuple[tuple[str, Role], ...]  # (name, role); e-mail follows from the role


INSTITUTIONS = {
    "gracht": DemoInstitution(
        name="Grachtencollege",
        brin="99GC",
        slug="grachtencollege",
        city="Amsterdam",
        region="Amsterdam-Amstelland",
        adv="amsterdam",
        colour="#154273",
        domain="grachtencollege.example",
        intro_text=(
            "Word je bij het zoeken naar een stage of tijdens je stage anders behandeld "
            "vanwege wie je bent? Meld het bij ons. Je mag anoniem melden. Binnen vijf "
            "werkdagen kijkt een meldpuntfunctionaris naar je melding. "
            "(Het Grachtencollege is een verzonnen school voor de demo.)"
        ),
        staff=(
            ("Noor de Wit", Role.HANDLER),
            ("Daan Verhoef", Role.HANDLER),
            ("Ilse Brouwer", Role.INSTITUTION_ADMIN),
        ),
    ),
    "kade": DemoInstitution(
        name="Kadewerf College",
        brin="99KW",
        slug="kadewerf-college",
        city="Rotterdam",
        region="Rijnmond",
        adv="rotterdam",
        colour="#0b6e4f",
        domain="kadewerf.example",
        intro_text=(
            "Bij Kadewerf College hoort discriminatie niet bij je stage. Heb je iets "
            "meegemaakt bij een sollicitatie of op je stageplek, of heb je het bij een "
            "ander gezien? Vertel het ons; we nemen elke melding serieus. "
            "(Kadewerf College bestaat niet: dit is demo-inhoud.)"
        ),
        staff=(
            ("Yusuf Kaya", Role.HANDLER),
            ("Marloes Jansen", Role.HANDLER),
            ("Peter Smit", Role.INSTITUTION_ADMIN),
        ),
    ),
    "singel": DemoInstitution(
        name="Singelbrug mbo",
        brin="99SB",
        slug="singelbrug-mbo",
        city="Utrecht",
        region="Midden-Nederland",
        adv="utrecht",
        colour="#8a2c0d",
        domain="singelbrug.example",
        intro_text=(
            "Het meldpunt stagediscriminatie van Singelbrug mbo luistert eerst. Je hoeft "
            "niets te bewijzen om te melden, en je bepaalt zelf wat er met je melding "
            "gebeurt. (Singelbrug mbo is een verzonnen demo-instelling.)"
        ),
        staff=(
            ("Anouk Visser", Role.HANDLER),
            ("Rachid Bouzid", Role.HANDLER),
            ("Esther van Leeuwen", Role.INSTITUTION_ADMIN),
        ),
    ),
}

OTHER_STAFF = (
    ("Sanne Mulder", Role.SBB_REVIEWER, "beoordelaar@sbb.example"),
    ("Tim Bakker", Role.MONITOR, "monitor@onderwijsmonitor.example"),
    ("Fleur de Graaf", Role.PLATFORM_ADMIN, "beheer@stagepact.example"),
)

# key: (name, KvK number, city, sector)
COMPANIES = {
    "lindehof": ("Zorgcentrum De Lindehof", "74120583", "Amsterdam", "Zorg"),
    "amstelzicht": ("Hotel Amstelzicht", "68395127", "Amsterdam", "Horeca"),
    "sleutel": ("Garage De Snelle Sleutel", "81736450", "Amsterdam", "Mobiliteit"),
    "korenveld": ("Bakkerij Het Gouden Korenveld", "59203618", "Amsterdam", "Voeding"),
    "waalhaven": ("Havenlogistiek Waalhaven BV", "77451902", "Rotterdam", "Logistiek"),
    "knipkleur": ("Kapsalon Knip & Kleur", "63018274", "Rotterdam", "Uiterlijke verzorging"),
    "speeltuin": ("Kinderopvang De Speeltuin", "85560731", "Rotterdam", "Kinderopvang"),
    "maasstroom": ("Installatiebedrijf Maasstroom", "70284659", "Schiedam", "Techniek"),
    "domplein": ("Retail Domplein BV", "66912048", "Utrecht", "Retail"),
    "bitbrug": ("ICT-bedrijf Bitbrug", "82047316", "Utrecht", "ICT"),
    "vechtoever": ("Zorggroep Vechtoever", "61739285", "Nieuwegein", "Zorg"),
    "singeltje": ("Eetcafé Het Singeltje", "79365014", "Utrecht", "Horeca"),
}

# --- What students report ----------------------------------------------------------------

REPORTS = {
    "name": ReportData(
        narrative=(
            "Ik belde voor een stageplek. Toen ik mijn naam noemde, zeiden ze dat de plek al "
            "vergeven was. Mijn klasgenoot belde een uur later en mocht wel langskomen."
        ),
        phase="application",
        who="company",
        form="refused",
        grounds=["name", "origin"],
        programme="Verzorgende IG",
        level="3",
        path="bol",
        study_year=2,
        wishes=["conversation", "address_company"],
        incident_period="begin september",
    ),
    "headscarf": ReportData(
        narrative=(
            "Bij het kennismakingsgesprek vroeg de praktijkopleider of ik mijn hoofddoek af wil "
            "doen tijdens het werk. Toen ik nee zei, kreeg ik een mail dat ze voor iemand anders "
            "hadden gekozen."
        ),
        phase="application",
        who="trainer",
        form="refused",
        grounds=["religion"],
        programme="Doktersassistent",
        level="4",
        path="bol",
        study_year=2,
        wishes=["address_company", "sbb"],
    ),
    "accent": ReportData(
        narrative=(
            "Een collega doet steeds mijn accent na als ik aan de telefoon zit. De anderen "
            "lachen mee. Ik heb het tegen mijn praktijkopleider gezegd, maar er verandert niets."
        ),
        phase="internship",
        who="colleague",
        form="remark",
        grounds=["language", "origin"],
        programme="Medewerker ICT-support",
        level="3",
        path="bbl",
        study_year=1,
        wishes=["conversation"],
    ),
    "pregnancy": ReportData(
        narrative=(
            "Toen ik vertelde dat ik zwanger ben, zei het bedrijf dat mijn stage over twee weken "
            "stopt. Ze zeggen dat het werk te zwaar wordt, maar ik doe alleen administratie."
        ),
        phase="internship",
        who="company",
        form="ended",
        grounds=["pregnancy", "gender"],
        programme="Juridisch medewerker",
        level="4",
        path="bol",
        study_year=3,
        wishes=["new_placement", "address_company"],
    ),
    "steered": ReportData(
        narrative=(
            "Mijn stagebegeleider op school zei dat ik beter niet bij dat bedrijf kon "
            "solliciteren, omdat ze daar liever geen jongens met een migratieachtergrond hebben. "
            "Ik kreeg toen zonder te vragen een andere plek."
        ),
        phase="school",
        who="school_staff",
        form="unequal",
        grounds=["origin"],
        programme="Logistiek medewerker",
        level="2",
        path="bbl",
        study_year=1,
        wishes=["conversation", "register"],
    ),
    "wheelchair": ReportData(
        narrative=(
            "Ik zit in een rolstoel. Aan de telefoon zeiden ze dat ze niet zijn ingericht op "
            "mensen zoals ik, zonder te vragen wat ik nodig heb."
        ),
        phase="application",
        who="company",
        form="refused",
        grounds=["disability"],
        programme="Software developer",
        level="4",
        path="bol",
        study_year=2,
        wishes=["adv", "address_company"],
    ),
    "groupchat": ReportData(
        narrative=(
            "Sinds collega's weten dat ik een vriend heb, maken ze grappen en gebruiken ze een "
            "bijnaam voor mij. Een keer is er een foto van mij rondgestuurd in de groepsapp."
        ),
        phase="internship",
        who="colleague",
        form="harassment",
        grounds=["orientation"],
        programme="Zelfstandig werkend kok",
        level="3",
        path="bbl",
        study_year=2,
        wishes=["conversation", "adv"],
    ),
    "client": ReportData(
        narrative=(
            "Een cliënt wil niet door mij geholpen worden vanwege mijn huidskleur. Mijn "
            "begeleider zegt dat de klant koning is en zet mij nu alleen nog in de keuken."
        ),
        phase="internship",
        who="client",
        form="unequal",
        grounds=["origin"],
        programme="Helpende zorg en welzijn",
        level="2",
        path="bol",
        study_year=1,
        wishes=["address_company"],
    ),
    "age": ReportData(
        narrative=(
            "Ik ben 34 en doe een omscholing. Bij twee bedrijven hoorde ik dat ze een jong team "
            "hebben en liever een jongere stagiair willen."
        ),
        phase="application",
        who="company",
        form="refused",
        grounds=["age"],
        programme="Pedagogisch medewerker",
        level="3",
        path="bbl",
        study_year=1,
        wishes=["register"],
    ),
    "trainer": ReportData(
        narrative=(
            "Mijn praktijkopleider maakt opmerkingen over mijn lichaam en komt te dichtbij staan "
            "als we alleen zijn. Ik durf niet meer naar mijn stage."
        ),
        phase="internship",
        who="trainer",
        form="sexual",
        grounds=["gender"],
        programme="Commercieel medewerker",
        level="3",
        path="bol",
        study_year=2,
        wishes=["conversation", "new_placement", "sbb"],
    ),
    "mbo": ReportData(
        narrative=(
            "Op mijn stage krijg ik alleen schoonmaakwerk. De hbo-stagiair mag met dezelfde "
            "opleiding wel mee naar klanten. Mijn begeleider zegt dat mbo'ers dat toch niet kunnen."
        ),
        phase="internship",
        who="trainer",
        form="unequal",
        grounds=["education_level"],
        programme="Eerste monteur elektrotechniek",
        level="3",
        path="bbl",
        study_year=3,
        wishes=["conversation", "address_company"],
    ),
    "pushed": ReportData(
        narrative=(
            "Een collega heeft mij geduwd en uitgescholden met een racistisch woord. Ik ben naar "
            "huis gegaan en heb het de volgende dag op school verteld."
        ),
        phase="internship",
        who="colleague",
        form="violence",
        grounds=["origin"],
        programme="Logistiek medewerker",
        level="2",
        path="bbl",
        study_year=2,
        wishes=["adv", "sbb", "address_company"],
    ),
    "christmas": ReportData(
        narrative=(
            "Ik was de enige stagiair die niet werd uitgenodigd voor het personeelsuitje. Ik weet "
            "niet waarom; misschien omdat ik uit Polen kom en nog niet zo goed Nederlands spreek."
        ),
        phase="internship",
        who="company",
        form="unequal",
        grounds=["nationality", "unknown"],
        programme="Medewerker bediening",
        level="2",
        path="bol",
        study_year=1,
        wishes=["register"],
    ),
    "looks": ReportData(
        narrative=(
            "Bij de sollicitatie zeiden ze dat mijn tatoeages en mijn haar niet passen bij de "
            "uitstraling van de winkel."
        ),
        phase="application",
        who="company",
        form="refused",
        grounds=["appearance"],
        programme="Verkoopspecialist",
        level="3",
        path="bol",
        study_year=2,
        wishes=["register", "conversation"],
    ),
    "grade": ReportData(
        narrative=(
            "Ik wil een klacht indienen over mijn cijfer voor Nederlands. De docent is oneerlijk "
            "en wil mijn toets niet nog een keer nakijken."
        ),
        phase="other",
        who="school_staff",
        form="other",
        grounds=["other"],
        programme="Kapper",
        level="2",
        path="bol",
        study_year=1,
        wishes=["conversation"],
    ),
}

STUDENTS = (
    ("Samira El Idrissi", "500231"),
    ("Kevin Doornbos", "500874"),
    ("Aylin Demir", "501102"),
    ("Jayden Martina", "501377"),
    ("Priya Ramdin", "501650"),
    ("Tomasz Nowak", "501918"),
)

# How the report came in: channel and who the reporter is.
REPORTERS = {
    "anonymous": (Channel.WEB, {}),
    "named": (Channel.WEB, {"is_anonymous": False, "contact_preference": "email"}),
    "witness": (Channel.WEB, {"reporter_role": "witness"}),
    "phone": (Channel.PHONE, {"is_anonymous": False, "contact_preference": "phone"}),
    "visit": (Channel.VISIT, {"is_anonymous": False, "contact_preference": "in_person"}),
    "mail": (Channel.MAIL, {"is_anonymous": False, "contact_preference": "email"}),
}


class DemoCase(NamedTuple):
    institution: str
    days_ago: float
    report: str
    reporter: str
    ending: str
    company: str | None = None  # linked from the register by the handler


# Every status and every closing outcome appears; ages run over ten months.
CASES = (
    # new: two within the acknowledgement deadline, three overdue
    DemoCase("gracht", 0.2, "name", "anonymous", "new", "amstelzicht"),
    DemoCase("kade", 2, "looks", "named", "new"),
    DemoCase("singel", 12, "age", "anonymous", "new"),
    DemoCase("gracht", 19, "christmas", "witness", "new", "korenveld"),
    DemoCase("kade", 26, "client", "anonymous", "new", "speeltuin"),
    # triage: acknowledged, no follow-up yet; the oldest have missed their feedback date
    DemoCase("singel", 6, "accent", "named", "triage", "bitbrug"),
    DemoCase("gracht", 16, "headscarf", "phone", "triage", "lindehof"),
    DemoCase("kade", 41, "pushed", "anonymous", "triage", "waalhaven"),
    DemoCase("singel", 112, "mbo", "anonymous", "triage", "lindehof"),
    DemoCase("gracht", 131, "age", "named", "triage", "sleutel"),
    # follow-up: the school acts; some gave feedback, some are overdue, one was reopened
    DemoCase("gracht", 31, "client", "named", "follow_up", "lindehof"),
    DemoCase("kade", 47, "groupchat", "visit", "follow_up", "knipkleur"),
    DemoCase("singel", 63, "name", "anonymous", "follow_up_feedback", "domplein"),
    DemoCase("gracht", 82, "mbo", "anonymous", "follow_up", "sleutel"),
    DemoCase("kade", 101, "pregnancy", "named", "follow_up_feedback", "maasstroom"),
    DemoCase("singel", 124, "trainer", "mail", "follow_up", "vechtoever"),
    DemoCase("gracht", 152, "accent", "anonymous", "follow_up"),
    DemoCase("kade", 205, "steered", "named", "reopened"),
    # in follow-up and ready for the next step, so that a newcomer can try the whole chain:
    # at each institution, one to escalate to SBB (consent given, company linked) and one
    # to refer to the ADV (consent given)
    DemoCase("gracht", 8, "headscarf", "named", "ready_for_sbb", "korenveld"),
    DemoCase("kade", 9, "name", "named", "ready_for_sbb", "speeltuin"),
    DemoCase("singel", 10, "wheelchair", "named", "ready_for_sbb", "bitbrug"),
    DemoCase("gracht", 11, "looks", "anonymous", "ready_for_adv"),
    DemoCase("kade", 12, "accent", "named", "ready_for_adv", "maasstroom"),
    DemoCase("singel", 13, "client", "anonymous", "ready_for_adv"),
    # referred to the ADV (with consent)
    DemoCase("gracht", 52, "wheelchair", "named", "referred", "amstelzicht"),
    DemoCase("kade", 93, "groupchat", "anonymous", "referred"),
    DemoCase("singel", 143, "client", "phone", "referred", "vechtoever"),
    # escalated to SBB (company named); Waalhaven is named at two institutions.
    # De Lindehof is named at two institutions without any escalation: a signal for SBB.
    DemoCase("kade", 72, "pushed", "named", "escalated", "waalhaven"),
    DemoCase("singel", 161, "pushed", "visit", "escalated", "waalhaven"),
    DemoCase("gracht", 223, "trainer", "named", "escalated", "amstelzicht"),
    # closed, with every outcome
    DemoCase("gracht", 283, "name", "named", "closed_resolved", "korenveld"),
    DemoCase("kade", 244, "accent", "anonymous", "closed_resolved", "maasstroom"),
    DemoCase("singel", 181, "steered", "named", "closed_resolved"),
    DemoCase("gracht", 262, "headscarf", "named", "closed_company_addressed", "lindehof"),
    DemoCase("singel", 153, "looks", "anonymous", "closed_company_addressed", "domplein"),
    DemoCase("kade", 232, "wheelchair", "named", "closed_adv", "speeltuin"),
    DemoCase("singel", 291, "headscarf", "named", "closed_sbb", "bitbrug"),
    DemoCase("gracht", 212, "christmas", "anonymous", "closed_no_action", "amstelzicht"),
    DemoCase("kade", 121, "age", "witness", "closed_no_action"),
    DemoCase("singel", 193, "accent", "anonymous", "closed_not_substantiated", "singeltje"),
    DemoCase("gracht", 172, "grade", "named", "closed_out_of_scope"),
    DemoCase("kade", 37, "grade", "anonymous", "closed_out_of_scope"),
    DemoCase("singel", 22, "looks", "anonymous", "withdrawn_new", "domplein"),
    DemoCase("gracht", 103, "groupchat", "named", "withdrawn_follow_up", "amstelzicht"),
    # duplicates: reported again hours after the escalated "pushed" cases above
    DemoCase("kade", 71.9, "pushed", "named", "duplicate", "waalhaven"),
    DemoCase("singel", 160.8, "pushed", "visit", "duplicate", "waalhaven"),
)


# --- What the handlers write ---------------------------------------------------------

QUESTION = (
    "Dank je voor je melding. Wil je vertellen wanneer het precies gebeurde en of er iemand "
    "anders bij was?"
)
ANSWER = "Het was op een dinsdag in de pauze. Een andere stagiair stond erbij."
NOTE = "Praktijkopleider gebeld; gesprek met het bedrijf staat volgende week gepland."
FEEDBACK = (
    "We hebben met het bedrijf gesproken. Zij nemen je melding serieus en bespreken het met het "
    "team. We houden contact met je over wat er verder gebeurt."
)
CLOSING = {
    Outcome.RESOLVED: "We hebben samen een oplossing gevonden. Dank je dat je het meldde.",
    Outcome.COMPANY_ADDRESSED: "De school heeft het bedrijf aangesproken en afspraken gemaakt.",
    Outcome.ADV_CLOSED: "Het antidiscriminatiebureau heeft je melding afgerond.",
    Outcome.SBB_MEASURE: "SBB heeft na onderzoek een maatregel genomen tegen het leerbedrijf.",
    Outcome.NO_ACTION_WANTED: "Je gaf aan dat je geen verdere stappen wilt. Dat respecteren we.",
    Outcome.NOT_SUBSTANTIATED: (
        "We konden niet vaststellen wat er is gebeurd. Je melding blijft geregistreerd."
    ),
    Outcome.OUT_OF_SCOPE: (
        "Dit gaat niet over discriminatie bij je stage. Je kunt terecht bij de "
        "klachtencommissie van school."
    ),
    Outcome.DUPLICATE: "Je hebt dit al eerder gemeld; we behandelen het in die melding.",
}


# --- What goes outside the school -----------------------------------------------------

ADV_SUMMARY = (
    "Een student meldt discriminatie bij het zoeken of lopen van een stage. De student wil "
    "graag hulp van het ADV en heeft toestemming gegeven om de melding door te sturen."
)
ADV_CLOSED_NOTE = (
    "Het ADV heeft een gesprek gehad met de student en het bedrijf een brief gestuurd. "
    "Het ADV sluit de melding af."
)
SBB_SUMMARY = (
    "Een student van niveau 2 of 3 meldt dat het leerbedrijf onderscheid maakt naar afkomst "
    "bij het aannemen en begeleiden van stagiairs. De school heeft het bedrijf aangesproken, "
    "zonder resultaat."
)
SBB_REASONING = (
    "Na gesprekken met het leerbedrijf en de praktijkopleider is gebleken dat studenten "
    "niet gelijk behandeld zijn. Het bedrijf werkt mee aan verbetering."
)
SBB_CONDITIONS = (
    "Het leerbedrijf stelt een gedragscode op, de praktijkopleiders volgen een training "
    "en SBB voert na drie maanden een controlegesprek."
)

# Files students attached to some reports: what an employer wrote back.
_REFUSAL_MAIL = """From: HR Havenlogistiek <hr@havenlogistiek.example>
To: student@student.example
Date: Mon, 2 Mar 2026 09:14:00 +0100
Subject: Re: Sollicitatie stageplek logistiek medewerker

Beste student,

Bedankt voor je sollicitatie. Wij zoeken iemand die beter bij ons team past.
Met een Nederlandse achternaam kom je bij onze klanten makkelijker binnen.

Met vriendelijke groet,
Afdeling HR
"""
_CHAT_LOG = """Groepsapp stagiairs, 14 maart 2026 (overgetypt door de student)

praktijkopleider: wie van jullie kan morgen, behalve jij natuurlijk met je hoofddoek
praktijkopleider: bij de klant ziet dat er niet uit
"""
REPORT_FILES = {
    "pushed": [("antwoord-van-het-bedrijf.eml", _REFUSAL_MAIL.encode())],
    "headscarf": [("groepsapp.txt", _CHAT_LOG.encode())],
    "groupchat": [("groepsapp.txt", _CHAT_LOG.encode())],
}
