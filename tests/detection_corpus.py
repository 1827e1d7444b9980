"""The corpora of ``tests/bench_detection.py``: seeded synthetic sentences with PII at known spans (recall),
real developer text with no PII (false positives), and look-alike evasions of blocklist words.

Everything is deterministic for a given Python and Faker version: the recall corpus is generated from a
fixed seed, the false-positive corpus is a fixed selection of this Python's own standard library plus
seeded generated logs, JSON and Markdown. Not a pytest module.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import sysconfig
import tokenize
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from faker import Faker

# ---------------------------------------------------------------------------------------------------
# Recall corpus

#: the types the recall corpus covers (the numeric keys and secrets are left to the unit tests)
RECALL_TYPES: tuple[str, ...] = (
    "EMAIL",
    "PHONE",
    "SSN",
    "CREDIT_CARD",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "IBAN",
    "URL",
    "DATE_OF_BIRTH",
)

#: Faker locales; ``ar_EG`` phone numbers are generated here (Faker has no Arabic phone formats)
LOCALES: tuple[str, ...] = (
    "en_US",
    "en_GB",
    "en_IN",
    "de_DE",
    "fr_FR",
    "es_ES",
    "it_IT",
    "pt_BR",
    "ru_RU",
    "ja_JP",
    "zh_CN",
    "ar_EG",
)

#: the languages of a locale's sentences, with their weights (the rest of the world writes English too)
LANGUAGES: dict[str, tuple[tuple[str, float], ...]] = {
    "en_US": (("en", 1.0),),
    "en_GB": (("en", 1.0),),
    "en_IN": (("en", 0.65), ("hi", 0.35)),
    "de_DE": (("de", 0.75), ("en", 0.25)),
    "fr_FR": (("fr", 0.75), ("en", 0.25)),
    "es_ES": (("es", 0.75), ("en", 0.25)),
    "it_IT": (("it", 0.75), ("en", 0.25)),
    "pt_BR": (("pt", 0.75), ("en", 0.25)),
    "ru_RU": (("ru", 0.75), ("en", 0.25)),
    "ja_JP": (("ja", 0.8), ("en", 0.2)),
    "zh_CN": (("zh", 0.8), ("en", 0.2)),
    "ar_EG": (("ar", 0.75), ("en", 0.25)),
}

COUNTRY_CODE = {
    "en_US": "1",
    "en_GB": "44",
    "en_IN": "91",
    "de_DE": "49",
    "fr_FR": "33",
    "es_ES": "34",
    "it_IT": "39",
    "pt_BR": "55",
    "ru_RU": "7",
    "ja_JP": "81",
    "zh_CN": "86",
    "ar_EG": "20",
}

ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
DEVANAGARI = "०१२३४५६७८९"
FULLWIDTH = "０１２３４５６７８９"
#: the share of numeric values (phone, card, date) written in the locale's own digits, by language
NATIVE_DIGITS: dict[str, tuple[str, str, float]] = {
    "ar": ("arabic-indic", ARABIC_INDIC, 0.4),
    "hi": ("devanagari", DEVANAGARI, 0.4),
    "ja": ("fullwidth", FULLWIDTH, 0.25),
    "zh": ("fullwidth", FULLWIDTH, 0.25),
}

# Per language: context phrases per type (the text right before the value), frames with a context
# phrase ``{c}`` and frames without one. ``{v}`` is the value.
Templates = dict[str, list[str]]
CONTEXT: dict[str, Templates] = {
    "en": {
        "EMAIL": ["Email me at ", "my email is ", "E-mail: ", "contact: "],
        "PHONE": ["Call me at ", "my phone number is ", "Phone: ", "Tel. ", "mobile: "],
        "SSN": ["SSN ", "my SSN is ", "social security number: ", "SSN: "],
        "CREDIT_CARD": ["card number ", "my credit card is ", "Card: ", "charge it to card "],
        "IP_ADDRESS": ["my IP is ", "IP address: ", "from IP "],
        "MAC_ADDRESS": ["MAC address ", "MAC: ", "the device MAC is "],
        "IBAN": ["IBAN ", "IBAN: ", "wire it to IBAN ", "my account (IBAN) is "],
        "URL": ["see ", "link: ", "my website is ", "visit "],
        "DATE_OF_BIRTH": ["born ", "DOB: ", "date of birth: ", "my birthday is ", "Born on ", "birth date "],
    },
    "de": {
        "EMAIL": ["Meine E-Mail-Adresse ist ", "E-Mail: ", "Schreib mir an "],
        "PHONE": ["Meine Telefonnummer ist ", "Tel.: ", "Ruf mich an unter ", "Handy: "],
        "CREDIT_CARD": ["Kartennummer ", "Meine Kreditkarte: ", "Kreditkartennummer: "],
        "IP_ADDRESS": ["Meine IP-Adresse ist ", "IP: "],
        "MAC_ADDRESS": ["MAC-Adresse ", "MAC-Adresse: "],
        "IBAN": ["IBAN: ", "Bitte überweisen an IBAN ", "Meine IBAN lautet "],
        "URL": ["Siehe ", "Link: ", "Unsere Webseite: "],
        "DATE_OF_BIRTH": ["geboren am ", "Geburtsdatum: ", "geb. "],
    },
    "fr": {
        "EMAIL": ["Mon adresse e-mail est ", "Courriel : ", "Écrivez-moi à "],
        "PHONE": ["Mon numéro de téléphone est le ", "Tél. : ", "Appelez-moi au ", "Portable : "],
        "CREDIT_CARD": ["Numéro de carte : ", "ma carte bancaire ", "carte n° "],
        "IP_ADDRESS": ["Mon adresse IP est ", "IP : "],
        "MAC_ADDRESS": ["adresse MAC ", "MAC : "],
        "IBAN": ["IBAN : ", "Mon IBAN est ", "virement sur l'IBAN "],
        "URL": ["Voir ", "Lien : ", "Notre site : "],
        "DATE_OF_BIRTH": ["né le ", "née le ", "date de naissance : "],
    },
    "es": {
        "EMAIL": ["Mi correo es ", "Correo electrónico: ", "Escríbeme a "],
        "PHONE": ["Mi teléfono es ", "Tel.: ", "Llámame al ", "Móvil: "],
        "CREDIT_CARD": ["Número de tarjeta: ", "mi tarjeta es la "],
        "IP_ADDRESS": ["Mi IP es ", "Dirección IP: "],
        "MAC_ADDRESS": ["dirección MAC ", "MAC: "],
        "IBAN": ["IBAN: ", "Mi IBAN es ", "transferir al IBAN "],
        "URL": ["Ver ", "Enlace: ", "Nuestra web: "],
        "DATE_OF_BIRTH": ["nacido el ", "nacida el ", "fecha de nacimiento: "],
    },
    "it": {
        "EMAIL": ["La mia email è ", "Email: ", "Scrivimi a "],
        "PHONE": ["Il mio numero di telefono è ", "Tel.: ", "Chiamami al ", "Cellulare: "],
        "CREDIT_CARD": ["Numero della carta: ", "la mia carta di credito è "],
        "IP_ADDRESS": ["Il mio indirizzo IP è ", "IP: "],
        "MAC_ADDRESS": ["indirizzo MAC ", "MAC: "],
        "IBAN": ["IBAN: ", "Il mio IBAN è ", "bonifico sull'IBAN "],
        "URL": ["Vedi ", "Link: ", "Il nostro sito: "],
        "DATE_OF_BIRTH": ["nato il ", "nata il ", "data di nascita: "],
    },
    "pt": {
        "EMAIL": ["Meu e-mail é ", "E-mail: ", "Escreva para "],
        "PHONE": ["Meu telefone é ", "Tel.: ", "Ligue para ", "Celular: "],
        "CREDIT_CARD": ["Número do cartão: ", "meu cartão de crédito é "],
        "IP_ADDRESS": ["Meu IP é ", "Endereço IP: "],
        "MAC_ADDRESS": ["endereço MAC ", "MAC: "],
        "IBAN": ["IBAN: ", "Meu IBAN é "],
        "URL": ["Veja ", "Link: ", "Nosso site: "],
        "DATE_OF_BIRTH": ["nascido em ", "nascida em ", "data de nascimento: "],
    },
    "ru": {
        "EMAIL": ["Моя почта: ", "Электронная почта: ", "Пишите на "],
        "PHONE": ["Мой телефон ", "Тел.: ", "Позвоните мне по номеру ", "Моб.: "],
        "CREDIT_CARD": ["Номер карты: ", "моя карта "],
        "IP_ADDRESS": ["Мой IP-адрес ", "IP: "],
        "MAC_ADDRESS": ["MAC-адрес ", "MAC: "],
        "IBAN": ["IBAN: ", "Мой IBAN "],
        "URL": ["См. ", "Ссылка: ", "Наш сайт: "],
        "DATE_OF_BIRTH": ["дата рождения: ", "родился ", "родилась "],
    },
    "ja": {
        "EMAIL": ["メールアドレスは", "メール：", "連絡先："],
        "PHONE": ["電話番号は", "電話：", "TEL:", "携帯番号："],
        "CREDIT_CARD": ["カード番号は", "カード番号：", "クレジットカード"],
        "IP_ADDRESS": ["IPアドレスは", "IP："],
        "MAC_ADDRESS": ["MACアドレスは", "MACアドレス："],
        "IBAN": ["IBAN：", "口座（IBAN）は"],
        "URL": ["詳しくは", "リンク：", "サイト："],
        "DATE_OF_BIRTH": ["生年月日は", "生年月日：", "誕生日は"],
    },
    "zh": {
        "EMAIL": ["我的邮箱是", "邮箱：", "请发邮件到"],
        "PHONE": ["我的电话是", "电话：", "手机号码", "联系电话："],
        "CREDIT_CARD": ["卡号", "我的银行卡号是", "信用卡号："],
        "IP_ADDRESS": ["我的IP地址是", "IP："],
        "MAC_ADDRESS": ["MAC地址是", "MAC地址："],
        "IBAN": ["IBAN：", "收款账号（IBAN）"],
        "URL": ["请访问", "链接：", "网址："],
        "DATE_OF_BIRTH": ["出生日期：", "生日是", "出生于"],
    },
    "ar": {
        "EMAIL": ["بريدي الإلكتروني هو ", "البريد الإلكتروني: "],
        "PHONE": ["رقم هاتفي ", "الهاتف: ", "اتصل بي على "],
        "CREDIT_CARD": ["رقم البطاقة: ", "بطاقتي "],
        "IP_ADDRESS": ["عنوان IP الخاص بي ", "عنوان IP: "],
        "MAC_ADDRESS": ["عنوان MAC: "],
        "IBAN": ["رقم الآيبان: ", "IBAN: "],
        "URL": ["زوروا موقعنا ", "الرابط: "],
        "DATE_OF_BIRTH": ["تاريخ الميلاد: ", "ولدت في "],
    },
    "hi": {
        "EMAIL": ["मेरा ईमेल ", "ईमेल: "],
        "PHONE": ["मेरा फ़ोन नंबर ", "फ़ोन: ", "मोबाइल नंबर: "],
        "CREDIT_CARD": ["कार्ड नंबर: ", "मेरा क्रेडिट कार्ड "],
        "IP_ADDRESS": ["मेरा IP पता ", "IP: "],
        "MAC_ADDRESS": ["MAC पता: "],
        "IBAN": ["IBAN: "],
        "URL": ["देखें ", "लिंक: "],
        "DATE_OF_BIRTH": ["जन्म तिथि: ", "जन्मदिन "],
    },
}
FRAMES_CONTEXT: dict[str, list[str]] = {
    "en": [
        "{c}{v}",
        "{c}{v}.",
        "Hi, {c}{v}, thanks!",
        "Update: {c}{v}",
        "FYI ({c}{v})",
        "Note {c}{v}; it changed.",
    ],
    "de": ["{c}{v}", "{c}{v}.", "Hallo, {c}{v}, danke!", "Wichtig: {c}{v}", "(Neu: {c}{v})"],
    "fr": ["{c}{v}", "{c}{v}.", "Bonjour, {c}{v}, merci !", "Attention : {c}{v}", "({c}{v})"],
    "es": ["{c}{v}", "{c}{v}.", "Hola, {c}{v}, ¡gracias!", "Importante: {c}{v}", "({c}{v})"],
    "it": ["{c}{v}", "{c}{v}.", "Ciao, {c}{v}, grazie!", "Nota: {c}{v}", "({c}{v})"],
    "pt": ["{c}{v}", "{c}{v}.", "Olá, {c}{v}, obrigado!", "Atenção: {c}{v}", "({c}{v})"],
    "ru": ["{c}{v}", "{c}{v}.", "Привет, {c}{v}, спасибо!", "Важно: {c}{v}", "({c}{v})"],
    "ja": ["{c}{v}です。", "{c}{v}", "{c}{v}。", "すみません、{c}{v}でお願いします。"],
    "zh": ["{c}{v}", "{c}{v}。", "你好，{c}{v}，谢谢！", "注意：{c}{v}"],
    "ar": ["{c}{v}", "{c}{v}.", "مرحبا، {c}{v}، شكرا!", "{c}{v}،"],
    "hi": ["{c}{v}", "{c}{v} है।", "नमस्ते, {c}{v}, धन्यवाद!"],
}
FRAMES_BARE: dict[str, list[str]] = {
    "en": ["{v}", "{v} is the one I used.", "I wrote down {v}, can you check?", "Here it is: {v}.",
           "Try this one ({v}) later", "Just {v}!"],
    "de": ["{v}", "{v} ist die richtige.", "Ich habe {v} notiert, stimmt das?", "Hier: {v}."],
    "fr": ["{v}", "{v} est le bon.", "J'ai noté {v}, c'est correct ?", "Voici : {v}."],
    "es": ["{v}", "{v} es el correcto.", "Anoté {v}, ¿está bien?", "Aquí está: {v}."],
    "it": ["{v}", "{v} è quello giusto.", "Ho segnato {v}, va bene?", "Eccolo: {v}."],
    "pt": ["{v}", "{v} é o certo.", "Anotei {v}, está certo?", "Aqui está: {v}."],
    "ru": ["{v}", "{v} — правильный.", "Я записал {v}, верно?", "Вот: {v}."],
    "ja": ["{v}", "{v}までご連絡ください。", "「{v}」を確認してください。", "こちらです：{v}。"],
    "zh": ["{v}", "请用{v}。", "{v}，谢谢", "已记下{v}，对吗？"],
    "ar": ["{v}", "{v} هو الصحيح.", "كتبت {v}، هل هذا صحيح؟"],
    "hi": ["{v}", "{v} सही है।", "मैंने {v} लिखा, ठीक है?"],
}  # fmt: skip

#: types whose value is a PII value only after a context word (a date alone is not a birth date)
CONTEXT_ONLY = frozenset({"DATE_OF_BIRTH"})


@dataclass(frozen=True, slots=True)
class Case:
    """One sentence with one value of ``type`` at ``text[start:end]``."""

    type: str
    locale: str
    text: str
    start: int
    end: int
    #: the value's form, for grouping misses ("visa19 9999-9999-9999-9999-999", "idn-domain", ...)
    shape: str
    context: bool

    @property
    def value(self) -> str:
        return self.text[self.start : self.end]


def _digit_shape(value: str) -> str:
    """``(0306) 999 0074`` -> ``(9999) 999 9999``: every digit of any script becomes 9."""
    return "".join("9" if unicodedata.category(c) == "Nd" else c for c in value)


def _to_digits(value: str, digits: str) -> str:
    return "".join(digits[ord(c) - 48] if "0" <= c <= "9" else c for c in value)


def _luhn_complete(body: str) -> str:
    """``body`` plus the Luhn check digit."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    return _luhn_complete(number[:-1]) == number


# ---- credit cards

#: generated brands: name -> (prefixes, lengths); Faker's own types are used too (``_faker_card_types``)
_GENERATED_CARDS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "maestro": (
        ("5018", "5020", "5038", "6304", "6759", "6761", "6762", "6763", "0604"),
        tuple(range(12, 20)),
    ),
    "unionpay": (("62",), (16, 17, 18, 19)),
    "mir": (("2200", "2201", "2202", "2203", "2204"), (16,)),
    "rupay": (("60", "65", "81", "82", "508"), (16,)),
    "troy": (("9792",), (16,)),
    "jcb": (("3528", "3589", "2131", "1800"), (15, 16)),
    "visa19": (("4",), (19,)),
}


def _faker_card_types(f: Faker) -> list[str]:
    """Every card type the locale's Faker provider has (``ru_RU`` has Mir, ``zh_CN`` UnionPay, ...)."""
    provider = f.factories[0].provider("faker.providers.credit_card")
    return sorted(provider.credit_card_types) if provider is not None else ["visa", "mastercard"]


def _card_groups(n: int, brand: str) -> tuple[int, ...]:
    if n == 15 and brand != "maestro":
        return (4, 6, 5)
    if brand == "diners" and n == 14:
        return (4, 6, 4)
    groups = [4] * (n // 4)
    if n % 4 == 1:
        groups[-1] = 5  # 13 digits: 4-4-5, 17: 4-4-4-5
    elif n % 4:
        groups.append(n % 4)
    return tuple(groups)


def _credit_card(f: Faker, rnd: random.Random, lang: str) -> tuple[str, str]:
    if rnd.random() < 0.5:
        brand = rnd.choice(_faker_card_types(f))
        number = f.credit_card_number(brand)
    else:
        brand = rnd.choice(sorted(_GENERATED_CARDS))
        prefixes, lengths = _GENERATED_CARDS[brand]
        prefix, n = rnd.choice(prefixes), rnd.choice(lengths)
        body = prefix + "".join(str(rnd.randrange(10)) for _ in range(n - len(prefix) - 1))
        number = _luhn_complete(body)
    assert luhn_ok(number), number
    sep_kind = rnd.choices(["space", "dash", "none", "dot", "mixed"], [30, 20, 25, 10, 15])[0]
    groups = _card_groups(len(number), brand)
    parts, k = [], 0
    for g in groups:
        parts.append(number[k : k + g])
        k += g
    if sep_kind == "none":
        value = number
    elif sep_kind == "mixed":
        value = parts[0] + "".join(rnd.choice([" ", "-", "."]) + p for p in parts[1:])
    else:
        value = {"space": " ", "dash": "-", "dot": "."}[sep_kind].join(parts)
    shape = f"{brand} ({len(number)} digits) {sep_kind}"
    return _native_digits(value, shape, rnd, lang)


def _native_digits(value: str, shape: str, rnd: random.Random, lang: str) -> tuple[str, str]:
    native = NATIVE_DIGITS.get(lang)
    if native is not None and rnd.random() < native[2]:
        return _to_digits(value, native[1]), f"{shape} {native[0]}"
    return value, shape


# ---- phones


def _egypt_phone(rnd: random.Random) -> str:
    def digits(n: int) -> str:
        return "".join(str(rnd.randrange(10)) for _ in range(n))

    mobile = "1" + rnd.choice("0125") + digits(8)
    land = "2" + digits(8)
    return rnd.choice(
        [
            f"0{mobile[:2]} {mobile[2:6]} {mobile[6:]}",
            f"0{mobile}",
            f"0{mobile[:3]} {mobile[3:6]} {mobile[6:]}",
            f"0{land[0]} {land[1:5]} {land[5:]}",
            f"(0{land[0]}) {land[1:5]}-{land[5:]}",
        ]
    )


def _phone(f: Faker, rnd: random.Random, locale: str, lang: str) -> tuple[str, str]:
    national = _egypt_phone(rnd) if locale == "ar_EG" else f.phone_number()
    kind = "intl" if national.startswith(("+", "00")) else "national"
    if locale == "zh_CN" and kind == "national" and len(national) == 11 and rnd.random() < 0.4:
        sep = rnd.choice([" ", "-"])
        national = f"{national[:3]}{sep}{national[3:7]}{sep}{national[7:]}"
    value = national
    if kind == "national" and rnd.random() < 0.3:
        rest = national.replace("(", "").replace(")", "").strip()
        if rest.startswith("0") or (locale == "ru_RU" and rest.startswith("8")):
            rest = rest[1:].lstrip(" -")
        style = rnd.random()
        cc = COUNTRY_CODE[locale]
        if style < 0.6:
            value = f"+{cc} {rest}"
        elif style < 0.85:
            value = f"+{cc}" + re.sub(r"\D", "", rest)
        else:
            value = f"00{cc} {rest}"
        kind = "intl-built"
    if locale in ("en_US", "en_GB") and "x" not in value and rnd.random() < 0.08:
        value += rnd.choice([" x", " ext. ", "x"]) + str(rnd.randrange(10, 99999))
    shape = f"{kind} {_digit_shape(value)}"
    return _native_digits(value, shape, rnd, lang)


# ---- emails, URLs

_IDN_TLD = {
    "de": "de", "fr": "fr", "es": "es", "it": "it", "pt": "com.br", "ru": "рф", "ja": "jp", "zh": "中国",
    "ar": "مصر", "hi": "भारत", "en": "com",
}  # fmt: skip


#: non-ASCII words for internationalised local parts and domain names
_IDN_WORDS = {
    "en": ["josé", "zoë", "renée", "müller"], "de": ["müller", "bücher", "straße", "grüße", "köln"],
    "fr": ["élodie", "françois", "crème", "hélène"], "es": ["núñez", "señor", "añejo", "ibáñez"],
    "it": ["città", "perché", "niccolò"], "pt": ["joão", "conceição", "ação"],
    "ru": ["иван", "почта", "пример"],
    "ja": ["山田", "例え", "メール"], "zh": ["王伟", "例子", "公司"], "ar": ["محمد", "بريد", "مثال"],
    "hi": ["राहुल", "डाक", "उदाहरण"],
}  # fmt: skip


def _email(f: Faker, rnd: random.Random, lang: str) -> tuple[str, str]:
    user = f.user_name()
    r = rnd.random()
    if r < 0.3:
        return f.email(), "plain"
    if r < 0.4:
        return f.company_email(), "company"
    if r < 0.5:
        first, last = _ascii(f.first_name()), _ascii(f.last_name())
        return (
            f"{first}.{last}+{rnd.choice(['news', 'work', 'spam', '2024'])}@{f.free_email_domain()}",
            "plus-tag",
        )
    if r < 0.65:
        local, domain = rnd.choice(_IDN_WORDS[lang]), rnd.choice(_IDN_WORDS[lang])
        return f"{local}@{domain}.{_IDN_TLD[lang]}", "idn"
    if r < 0.72:
        return (
            f"{rnd.choice(['иван', 'ольга', 'info', user])}@{rnd.choice(['почта', 'пример', 'сайт'])}.рф",
            "cyrillic-tld",
        )
    if r < 0.82:
        puny = rnd.choice(["xn--p1ai", "xn--fiqs8s", "xn--mgbaam7a8h", "xn--h2brj9c", "xn--80asehdb"])
        host = rnd.choice([f.domain_word(), "xn--80ak6aa92e", "xn--bcher-kva"])
        return f"{user}@{host}.{puny}", "punycode-tld"
    if r < 0.95:
        region = rnd.choice(["eu-west-1", "us-east-2", "ap-southeast-1"])
        return (
            f"{user}@{rnd.choice(['mail', 'smtp', 'relay'])}.{region}.corp.{f.domain_name()}",
            "long-subdomain",
        )
    return (
        f"{_ascii(f.first_name()).capitalize()}.{_ascii(f.last_name()).capitalize()}@{f.domain_word().capitalize()}.COM",
        "upper-case",
    )


def _ascii(word: str) -> str:
    text = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z]", "", text) or "user"


def _url(f: Faker, rnd: random.Random, lang: str) -> tuple[str, str]:
    r = rnd.random()
    if r < 0.2:
        return f.url(), "plain"
    if r < 0.4:
        return f.uri(), "with-path"
    if r < 0.5:
        return f"https://{f.domain_name()}/{f.uri_path()}?q={f.word()}&lang={lang}", "query"
    if r < 0.6:
        return f"HTTPS://{f.domain_name()}/{f.uri_path()}", "upper-scheme"
    if r < 0.65:
        return f"HTTP://WWW.{f.domain_name().upper()}/INDEX.HTML", "all-upper"
    if r < 0.75:
        return f"www.{f.domain_name()}/{f.uri_path()}", "www"
    if r < 0.8:
        return f"https://{f.domain_name()}:{rnd.choice([8080, 8443, 3000])}/{f.uri_path()}", "port"
    if r < 0.9:
        return f"https://{rnd.choice(_IDN_WORDS[lang])}.{_IDN_TLD[lang]}/{f.uri_path()}", "idn"
    if r < 0.95:
        return f"ftp://ftp.{f.domain_name()}/pub/{f.file_name()}", "ftp"
    return f"https://{f.domain_name()}/{f.uri_path()}#{f.word()}", "fragment"


# ---- IP, MAC


def _ip(f: Faker, rnd: random.Random) -> tuple[str, str]:
    r = rnd.random()
    if r < 0.45:
        return f.ipv4_public(), "v4-public"
    if r < 0.55:
        return f.ipv4_private(), "v4-private"
    groups = [rnd.randrange(0x10000) for _ in range(8)]
    groups[0] = rnd.choice([0x2001, 0x2400, 0x2600, 0x2A00, 0x2A02, 0x2C0F])
    if r < 0.7:
        return ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups)).exploded, "v6-full"
    zero_at = rnd.randrange(2, 6)
    for k in range(zero_at, zero_at + rnd.randrange(1, 3)):
        groups[k] = 0
    compressed = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups)).compressed
    if r < 0.93:
        return compressed, "v6-compressed"
    return compressed.upper(), "v6-upper"


def _mac(rnd: random.Random) -> tuple[str, str]:
    octets = [rnd.randrange(256) for _ in range(6)]
    hx = "".join(f"{o:02x}" for o in octets)
    r = rnd.random()
    if r < 0.3:
        return ":".join(hx[i : i + 2] for i in range(0, 12, 2)), "colon-lower"
    if r < 0.55:
        return ":".join(hx[i : i + 2] for i in range(0, 12, 2)).upper(), "colon-upper"
    if r < 0.8:
        return "-".join(hx[i : i + 2] for i in range(0, 12, 2)).upper(), "dash-upper"
    return ".".join(hx[i : i + 4] for i in range(0, 12, 4)), "cisco-dotted"


# ---- IBAN

#: country -> BBAN layout (n digits, a upper letters, c alphanumerics), for countries Faker lacks
_BBAN = {"GB": "4a14n", "DE": "18n", "FR": "10n11c2n", "NL": "4a10n", "CH": "5n12c", "AE": "19n",
         "SA": "2n18c", "EG": "25n", "BE": "12n", "AT": "16n", "PL": "24n"}  # fmt: skip
IBAN_LENGTH = {"GB": 22, "DE": 22, "FR": 27, "ES": 24, "IT": 27, "BR": 29, "NL": 18, "CH": 21, "AE": 23,
               "SA": 24, "EG": 29, "BE": 16, "AT": 20, "PL": 28}  # fmt: skip
#: locales whose Faker IBAN is a real one (the others fall back to a foreign country's)
_FAKER_IBAN = {"en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR"}


def iban_ok(iban: str) -> bool:
    iban = iban.upper()
    if IBAN_LENGTH.get(iban[:2]) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban(f: Faker, rnd: random.Random, locale: str) -> tuple[str, str]:
    if locale in _FAKER_IBAN:
        iban = f.iban()
    else:
        country = (
            "EG" if locale == "ar_EG" and rnd.random() < 0.6 else rnd.choice(sorted(set(_BBAN) - {"EG"}))
        )
        bban = ""
        for count, kind in re.findall(r"(\d+)([nac])", _BBAN[country]):
            alphabet = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}.get(
                kind, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            )
            bban += "".join(rnd.choice(alphabet) for _ in range(int(count)))
        check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
        iban = f"{country}{check:02d}{bban}"
    assert iban_ok(iban), iban
    groups = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    r = rnd.random()
    if r < 0.35:
        return iban, f"{iban[:2]} compact"
    if r < 0.7:
        return groups, f"{iban[:2]} grouped-space"
    if r < 0.8:
        return iban.lower(), f"{iban[:2]} lower"
    if r < 0.87:
        return groups.lower(), f"{iban[:2]} lower-grouped"
    return groups.replace(" ", "-"), f"{iban[:2]} grouped-dash"


# ---- dates of birth

_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
}
_DATE_FORMATS: dict[str, list[str]] = {
    "en_US": ["{m:02d}/{d:02d}/{y}", "{M} {d}, {y}", "{y}-{m:02d}-{d:02d}", "{m}/{d}/{y}"],
    "en_GB": ["{d:02d}/{m:02d}/{y}", "{d} {M} {y}", "{y}-{m:02d}-{d:02d}"],
    "en_IN": ["{d:02d}-{m:02d}-{y}", "{d:02d}/{m:02d}/{y}", "{d} {M} {y}"],
    "de_DE": ["{d:02d}.{m:02d}.{y}", "{d}. {M} {y}", "{y}-{m:02d}-{d:02d}"],
    "fr_FR": ["{d:02d}/{m:02d}/{y}", "{d} {M} {y}"],
    "es_ES": ["{d:02d}/{m:02d}/{y}", "{d} de {M} de {y}"],
    "it_IT": ["{d:02d}/{m:02d}/{y}", "{d:02d}-{m:02d}-{y}"],
    "pt_BR": ["{d:02d}/{m:02d}/{y}", "{d:02d}-{m:02d}-{y}"],
    "ru_RU": ["{d:02d}.{m:02d}.{y}", "{y}-{m:02d}-{d:02d}"],
    "ja_JP": ["{y}年{m}月{d}日", "{y}/{m:02d}/{d:02d}", "{y}-{m:02d}-{d:02d}"],
    "zh_CN": ["{y}年{m}月{d}日", "{y}-{m:02d}-{d:02d}", "{y}/{m}/{d}"],
    "ar_EG": ["{d:02d}/{m:02d}/{y}", "{y}-{m:02d}-{d:02d}", "{d}/{m}/{y}"],
}


def _dob(f: Faker, rnd: random.Random, locale: str, lang: str) -> tuple[str, str]:
    born: date = f.date_of_birth(minimum_age=5, maximum_age=95)
    fmt = rnd.choice(_DATE_FORMATS[locale])
    month_lang = lang if lang in _MONTHS else "en"
    month_name = _MONTHS[month_lang].split()[born.month - 1]
    value = fmt.format(y=born.year, m=born.month, d=born.day, M=month_name)
    shape = fmt.replace("{m:02d}", "MM").replace("{d:02d}", "DD").replace("{y}", "YYYY")
    shape = shape.replace("{m}", "M").replace("{d}", "D").replace("{M}", f"Month({month_lang})")
    return _native_digits(value, shape, rnd, lang)


def _ssn(f: Faker, rnd: random.Random) -> tuple[str, str]:
    ssn = f.ssn()
    kind = rnd.choices(["dash", "space", "dot", "en-dash", "bare"], [30, 20, 15, 10, 25])[0]
    sep = {"dash": "-", "space": " ", "dot": ".", "en-dash": "–", "bare": ""}[kind]
    return ssn.replace("-", sep), kind


# ---- sentences


@cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


def _pick_lang(rnd: random.Random, locale: str) -> str:
    langs = [lang for lang, _ in LANGUAGES[locale]]
    return rnd.choices(langs, [w for _, w in LANGUAGES[locale]])[0]


def _value(kind: str, f: Faker, rnd: random.Random, locale: str, lang: str) -> tuple[str, str]:
    makers: dict[str, Callable[[], tuple[str, str]]] = {
        "EMAIL": lambda: _email(f, rnd, lang),
        "PHONE": lambda: _phone(f, rnd, locale, lang),
        "SSN": lambda: _ssn(f, rnd),
        "CREDIT_CARD": lambda: _credit_card(f, rnd, lang),
        "IP_ADDRESS": lambda: _ip(f, rnd),
        "MAC_ADDRESS": lambda: _mac(rnd),
        "IBAN": lambda: _iban(f, rnd, locale),
        "URL": lambda: _url(f, rnd, lang),
        "DATE_OF_BIRTH": lambda: _dob(f, rnd, locale, lang),
    }
    return makers[kind]()


def recall_corpus(seed: int = 2024, per_cell: int = 100) -> list[Case]:
    """``per_cell`` sentences per type and locale (SSN: three times that, in en_US only)."""
    cases: list[Case] = []
    for locale in LOCALES:
        f = _faker(locale)
        for kind in RECALL_TYPES:
            if kind == "SSN" and locale != "en_US":
                continue
            cell_seed = zlib.crc32(f"{seed}:{locale}:{kind}".encode())
            f.seed_instance(cell_seed)
            rnd = random.Random(cell_seed)
            for _ in range(per_cell * (3 if kind == "SSN" else 1)):
                lang = "en" if kind == "SSN" else _pick_lang(rnd, locale)
                value, shape = _value(kind, f, rnd, locale, lang)
                bare_ssn = kind == "SSN" and shape == "bare"
                with_context = kind in CONTEXT_ONLY or bare_ssn or rnd.random() < 0.5
                if with_context:
                    frame = rnd.choice(FRAMES_CONTEXT[lang]).replace("{c}", rnd.choice(CONTEXT[lang][kind]))
                else:
                    frame = rnd.choice(FRAMES_BARE[lang])
                start = frame.index("{v}")
                text = frame.replace("{v}", value)
                cases.append(Case(kind, locale, text, start, start + len(value), shape, with_context))
    return cases


# ---------------------------------------------------------------------------------------------------
# False-positive corpus: developer text with no PII


@dataclass(frozen=True, slots=True)
class Line:
    part: str  # "code", "docstrings", "prose", "logs", "json", "markdown"
    source: str  # a file name, or the generator
    lineno: int
    text: str


#: the standard library modules sampled (those missing on another Python version are skipped)
STDLIB_MODULES: tuple[str, ...] = (
    "argparse", "base64", "calendar", "configparser", "csv", "datetime", "difflib", "email/utils",
    "ftplib", "gettext", "http/client", "http/cookiejar", "imaplib", "ipaddress", "json/encoder",
    "locale", "logging/handlers", "mailbox", "platform", "smtplib", "socket", "ssl", "statistics",
    "tarfile", "textwrap", "urllib/parse", "urllib/request", "uuid", "zipfile",
)  # fmt: skip
#: from each module: this many blocks of BLOCK consecutive lines, evenly spaced
BLOCKS, BLOCK = 5, 40
#: lines taken from ``pydoc_data.topics`` (the language reference as plain text)
PROSE_LINES = 1600


def _module_path(stdlib: Path, name: str) -> Path | None:
    for candidate in (stdlib / f"{name}.py", stdlib / name / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _string_lines(source: str) -> set[int]:
    """1-based numbers of the lines inside triple-quoted strings (docstrings and long text)."""
    inside: set[int] = set()
    tokens = tokenize.generate_tokens(iter(source.splitlines(keepends=True)).__next__)
    try:
        for tok in tokens:
            if tok.type == tokenize.STRING and re.match(r"[rbuRBUfF]*('''|\"\"\")", tok.string):
                inside.update(range(tok.start[0], tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return inside


def stdlib_lines() -> list[Line]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out: list[Line] = []
    for name in STDLIB_MODULES:
        path = _module_path(stdlib, name)
        if path is None:
            continue
        source = path.read_text(encoding="utf-8", errors="replace")
        lines = source.splitlines()
        strings = _string_lines(source)
        step = max(1, (len(lines) - BLOCK) // BLOCKS)
        taken: set[int] = set()
        for b in range(BLOCKS):
            taken.update(range(b * step, min(len(lines), b * step + BLOCK)))
        for i in sorted(taken):
            if lines[i].strip():
                part = "docstrings" if i + 1 in strings else "code"
                out.append(Line(part, f"{name}.py", i + 1, lines[i]))
    return out


def prose_lines() -> list[Line]:
    from pydoc_data.topics import topics

    out: list[Line] = []
    for key in sorted(topics):
        for i, text in enumerate(topics[key].splitlines(), 1):
            if text.strip() and len(out) < PROSE_LINES:
                out.append(Line("prose", f"pydoc_data.topics[{key!r}]", i, text))
    return out


# ---- generated developer text. Real URLs, emails and public IPs planted in it are recorded as true.


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.truths: set[tuple[str, str]] = set()
        self.versions: set[str] = set()
        self.debatable: set[tuple[str, str]] = set()

    def hex(self, n: int) -> str:
        return "".join(self.rnd.choice("0123456789abcdef") for _ in range(n))

    def uuid(self) -> str:
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def version(self) -> str:
        """Mostly three-part versions; one in six has four parts (``2.1.0.4-rc1``, ``1.19.9.155``)."""
        r = self.rnd
        shapes = [
            f"{r.randint(0, 3)}.{r.randint(0, 30)}.{r.randint(0, 20)}",
            f"v{r.randint(1, 2)}.{r.randint(0, 30)}.{r.randint(0, 9)}",
            f"{r.randint(2019, 2025)}.{r.randint(1, 12)}.{r.randint(1, 28)}",
            f"{r.randint(1, 5)}.{r.randint(0, 9)}.{r.randint(0, 9)}-{r.choice(['1~deb12u2', '0ubuntu1'])}",
            f"{r.randint(1, 3)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 20)}-rc{r.randint(1, 3)}",
            f"{r.randint(1, 2)}.{r.randint(10, 30)}.{r.randint(0, 12)}.{r.randint(100, 250)}",
        ]
        v = r.choices(shapes, [36, 16, 16, 16, 8, 8])[0]
        self.versions.add(v.split("-")[0])
        return v

    def ts(self) -> str:
        r = self.rnd
        n = r.randint
        day = f"2024-{n(1, 12):02d}-{n(1, 28):02d}"
        return f"{day}T{n(0, 23):02d}:{n(0, 59):02d}:{n(0, 59):02d}.{n(0, 999999):06d}Z"

    def public_ip(self) -> str:
        while True:
            ip = ipaddress.IPv4Address(self.rnd.getrandbits(32))
            if ip.is_global:
                self.truths.add(("IP_ADDRESS", str(ip)))
                return str(ip)

    def url(self, url: str) -> str:
        self.truths.add(("URL", url))
        return url


_PKGS = ["requests", "numpy", "pydantic", "urllib3", "aiohttp", "grpcio", "protobuf", "uvicorn", "fastapi",
         "sqlalchemy", "redis", "celery", "boto3", "orjson", "httpx", "pillow", "torch"]  # fmt: skip
_SERVICES = ["api", "worker", "scheduler", "billing", "auth", "ingest", "search", "gateway"]
_EXCEPTIONS = ["KeyError: 'user_id'", "ValueError: invalid literal for int() with base 10: 'abc'",
               "TimeoutError: timed out after 30.0s",
               "ConnectionResetError: [Errno 104] Connection reset by peer",
               "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
               "AssertionError: expected 200, got 503", "ZeroDivisionError: division by zero"]  # fmt: skip


def _log_line(g: _Gen) -> str:
    r = g.rnd
    n = r.randint
    svc, pkg, ts = r.choice(_SERVICES), r.choice(_PKGS), g.ts()
    kind = r.randrange(22)
    if kind == 0:
        return (
            f"{ts} INFO  {svc} request_id={g.uuid()} method=GET path=/v1/items/{n(1, 99999)} "
            f"status={r.choice([200, 201, 204, 404, 500])} duration={r.random()}s"
        )
    if kind == 1:
        return (
            f"{ts} WARN  {svc} slow query took {n(100, 9000)}ms rows={n(0, 10**6)} "
            f"trace_id={g.hex(32)} span_id={g.hex(16)}"
        )
    if kind == 2:
        ip = g.public_ip()
        return (
            f'{ip} - - [15/Mar/2024:10:{n(10, 59)}:{n(10, 59)} +0000] "GET /static/app.'
            f'{g.hex(8)}.js HTTP/1.1" 200 {n(100, 99999)} "-" "Mozilla/5.0 (X11; Linux x86_64)"'
        )
    if kind == 3:
        return f"Collecting {pkg}>={g.version()}"
    if kind == 4:
        name = f"{pkg}-{n(0, 3)}.{n(0, 30)}.{n(0, 9)}-py3-none-any.whl"
        url = g.url(f"https://files.pythonhosted.org/packages/{g.hex(2)}/{g.hex(2)}/{g.hex(60)}/{name}")
        return f"  Downloading {url} ({n(10, 9999)} kB)"
    if kind == 5:
        return (
            f"     ━━━━━━━━━━━━━━━━━━━━━━━━ {n(1, 99)}.{n(0, 9)}/{n(1, 99)}.{n(0, 9)} MB "
            f"{r.random() * 300:.1f} MB/s eta 0:00:0{n(0, 9)}"
        )
    if kind == 6:
        pkgs = " ".join(f"{p}-{g.version()}" for p in r.sample(_PKGS, 3))
        return f"Successfully installed {pkgs}"
    if kind == 7:
        return f"{ts[:10]} {ts[11:19]} status installed lib{pkg}{n(1, 9)}:amd64 {g.version()}"
    if kind == 8:
        url = g.url("http://deb.debian.org/debian")
        return f"Get:{n(1, 80)} {url} bookworm/main amd64 lib{pkg} {g.version()} [{n(1, 9)},{n(100, 999)} kB]"
    if kind == 9:
        return f"Unpacking lib{pkg}:amd64 ({g.version()}) over ({g.version()}) ..."
    if kind == 10:
        status = r.choice(["Running", "Pending", "CrashLoopBackOff"])
        return f"{svc}-{g.hex(10)}-{g.hex(5)}   {n(0, 2)}/2   {status}   {n(0, 40)}   {n(1, 59)}d{n(1, 23)}h"
    if kind == 11:
        return (
            f'{g.hex(12)}   registry.example.internal/{svc}:{g.version()}   "python -m {svc}"   '
            f"{n(2, 50)} hours ago   Up {n(2, 50)} hours   0.0.0.0:{n(3000, 9000)}->80/tcp"
        )
    if kind == 12:
        where = f"/usr/local/lib/python3.{n(8, 13)}/site-packages/{pkg}/{r.choice(_SERVICES)}.py"
        return f'  File "{where}", line {n(1, 3000)}, in {r.choice(["handle", "_send", "run", "__call__"])}'
    if kind == 13:
        return r.choice(_EXCEPTIONS)
    if kind == 14:
        return (
            f"{ts} DEBUG {svc} cache hit ratio={r.random()} evictions={n(0, 10**5)} "
            f"bytes={n(10**5, 10**10)} epoch_ms={n(1_600_000_000_000, 1_750_000_000_000)}"
        )
    if kind == 15:
        return f"{ts} INFO  {svc} deployed image {svc}:{g.version()} digest sha256:{g.hex(64)}"
    if kind == 16:
        return (
            f"{ts} INFO  {svc} build {g.version()} (commit {g.hex(40)}) linux/amd64 go1.{n(19, 23)}.{n(0, 9)}"
        )
    if kind == 17:
        return f"{ts} ERROR {svc} job {n(10**15, 10**19)} failed, {n(1, 5)} retries: {r.choice(_EXCEPTIONS)}"
    if kind == 18:
        return f"{ts} INFO  {svc} offsets partition={n(0, 63)} committed={n(10**8, 10**16)} lag={n(0, 5000)}"
    if kind == 19:
        return (
            f"Mar {n(1, 28):2d} {n(0, 23):02d}:{n(0, 59):02d}:{n(0, 59):02d} host{n(1, 9)} systemd[1]: "
            f"Started {svc}.service - {svc.capitalize()} daemon (pid {n(100, 99999)})."
        )
    if kind == 20:
        test = f"test_{r.choice(['create', 'update', 'delete', 'list'])}_{n(1, 99)}"
        return f"test_{svc}.py::{test} PASSED [{n(1, 100):3d}%]  {r.random() * 3:.2f}s"
    return (
        f"{r.choice(['p50', 'p95', 'p99'])}={r.random() * 100:.3f}ms rps={r.random() * 10000:.1f} "
        f"cpu={r.random() * 100:.1f}% mem={n(100, 8000)}MiB gc_pause={r.random() / 100}s"
    )


def log_lines(seed: int = 11, count: int = 1800) -> tuple[list[Line], _Gen]:
    g = _Gen(seed)
    return [Line("logs", "generated", i + 1, _log_line(g)) for i in range(count)], g


def _json_doc(g: _Gen) -> object:
    r = g.rnd
    pkg = r.choice(_PKGS)
    kind = r.randrange(4)
    if kind == 0:
        return {
            "info": {
                "name": pkg,
                "version": g.version(),
                "requires_python": f">=3.{r.randint(7, 10)}",
                "license": r.choice(["MIT", "Apache-2.0", "BSD-3-Clause"]),
                "project_urls": {"Source": g.url(f"https://github.com/{pkg}/{pkg}")},
            },
            "urls": [
                {
                    "filename": f"{pkg}-{g.version()}.tar.gz",
                    "digests": {"sha256": g.hex(64), "md5": g.hex(32)},
                    "size": r.randint(10_000, 90_000_000),
                    "upload_time_iso_8601": g.ts(),
                    "yanked": False,
                }
            ],
        }
    if kind == 1:
        return {
            "id": f"chatcmpl-{g.hex(24)}",
            "object": "chat.completion",
            "created": r.randint(1_700_000_000, 1_750_000_000),
            "model": r.choice(["gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022"]),
            "usage": {"prompt_tokens": r.randint(1, 4000), "completion_tokens": r.randint(1, 4000)},
            "system_fingerprint": f"fp_{g.hex(10)}",
            "choices": [{"index": 0, "finish_reason": "stop", "logprob": -r.random()}],
        }
    if kind == 2:
        return {
            "metrics": {
                "latency_ms": {"p50": r.random() * 50, "p99": r.random() * 500},
                "throughput": r.random() * 1e5,
                "error_rate": r.random() / 100,
            },
            "build": {
                "version": g.version(),
                "commit": g.hex(40),
                "timestamp": r.randint(1_600_000_000, 1_750_000_000),
            },
            "node": {
                "id": g.uuid(),
                "region": r.choice(["eu-west-1", "us-east-2"]),
                "shard": r.randint(0, 255),
            },
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": r.choice(_SERVICES), "uid": g.uuid(),
                     "resourceVersion": str(r.randint(10**5, 10**9))},
        "spec": {
            "replicas": r.randint(1, 9),
            "template": {"spec": {"containers": [{
                "image": f"{r.choice(_SERVICES)}:{g.version()}",
                "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
            }]}},
        },
    }  # fmt: skip


def json_lines(seed: int = 13, target: int = 900) -> tuple[list[Line], _Gen]:
    g = _Gen(seed)
    out: list[Line] = []
    while len(out) < target:
        doc = _json_doc(g)
        text = json.dumps(doc, indent=2) if g.rnd.random() < 0.6 else json.dumps(doc)
        out.extend(Line("json", "generated", len(out) + 1, t) for t in text.splitlines())
    return out, g


_MD_TEMPLATES = [
    "# {pkg}", "", "{Pkg} is a small library for {task}, built on {pkg2}.",
    "[![CI]({badge})]({repo}/actions) [![PyPI](https://img.shields.io/pypi/v/{pkg}.svg)](https://pypi.org/project/{pkg}/)",
    "## Installation", "```bash", "pip install {pkg}=={ver}", "```", "## Quick start", "```python",
    "import {pkg}", "client = {pkg}.Client(timeout={f}, retries={n})", "result = client.run(batch_size={n2})",
    "print(result.elapsed)  # {f2} seconds", "```", "## Benchmarks", "| version | median | p99 | ops/s |",
    "|---|---|---|---|", "| {ver} | {f} ms | {f2} ms | {n3} |", "| {ver2} | {f2} ms | {f} ms | {n3} |",
    "Measured on {n} cores, {n2} GiB RAM, Python 3.{minor}.{n}.", "## Changelog", "### {ver} ({date})",
    "- Fixed a race in `{pkg}.pool` (#{issue}).", "- Dropped Python 3.{minor} support.",
    "- Bumped `{pkg2}` to {ver2}.", "## License", "{Pkg} is released under the MIT license. See `LICENSE`.",
    "> **Note** version {ver} changed the default timeout from {n}s to {n2}s.",
    "Ports {port}-{port2} must be open; the default is {port}.",
    "{Pkg} was born on {date} as a weekend project; 1.0 followed a year later.",
]  # fmt: skip


def markdown_lines(seed: int = 17, target: int = 700) -> tuple[list[Line], _Gen]:
    g = _Gen(seed)
    r = g.rnd
    out: list[Line] = []
    tasks = ["parsing logs", "rate limiting", "retrying HTTP calls", "config files", "feature flags"]
    while len(out) < target:
        pkg, pkg2 = r.sample(_PKGS, 2)
        repo = g.url(f"https://github.com/example-org/{pkg}")
        badge = g.url(f"{repo}/actions/workflows/ci.yml/badge.svg")
        g.url(f"{repo}/actions")
        g.url(f"https://img.shields.io/pypi/v/{pkg}.svg")
        g.url(f"https://pypi.org/project/{pkg}/")
        fields = {
            "pkg": pkg, "Pkg": pkg.capitalize(), "pkg2": pkg2, "task": r.choice(tasks), "badge": badge,
            "repo": repo, "ver": g.version(), "ver2": g.version(), "f": f"{r.random() * 100:.2f}",
            "f2": str(r.random()), "n": r.randint(2, 64), "n2": r.randint(2, 512),
            "n3": f"{r.randint(1000, 10**6):,}", "minor": r.randint(7, 13),
            "date": f"{r.randint(2019, 2025)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
            "issue": r.randint(1, 9999), "port": r.randint(1024, 9000), "port2": r.randint(9001, 65535),
        }  # fmt: skip
        g.debatable.add(("DATE_OF_BIRTH", str(fields["date"])))
        out.extend(
            Line("markdown", f"README {pkg}", len(out) + 1, t.format(**fields)) for t in _MD_TEMPLATES if t
        )
    return out, g


@dataclass(frozen=True, slots=True)
class FpCorpus:
    lines: list[Line]
    #: (type, text) planted as true values in the generated parts (real URLs, public IPs in access logs)
    truths: set[tuple[str, str]]
    #: the version strings in the generated parts (without a ``-rc1``-style suffix)
    versions: set[str]
    #: (type, text) planted as debatable (the birth date of a project)
    debatable: set[tuple[str, str]]


def fp_corpus() -> FpCorpus:
    corpus = FpCorpus(stdlib_lines() + prose_lines(), set(), set(), set())
    for make in (log_lines, json_lines, markdown_lines):
        part, gen = make()
        corpus.lines.extend(part)
        corpus.truths.update(gen.truths)
        corpus.versions.update(gen.versions)
        corpus.debatable.update(gen.debatable)
    return corpus


#: (type, exact matched text) found in the standard library sample and checked by eye to be TRUE values
#: (authors' addresses, real links, example addresses written as such), reviewed on Python 3.11
_TRUE_EMAILS = """
steven.bethard@gmail.com raymond.hettinger@gmail.com email-sig@python.org piers@cs.su.oz.au
donn@u.washington.edu anthony@interlink.com.au Tino.Lange@isg.de az@kreativkombinat.de holbert.13@osu.edu
skitta@abo.fi mal@lemburg.com fredrik@pythonware.com mal@egenix.com sendmail-bugs@sendmail.org
somebody@here.my.org dragondm@integral.org esr@thyrsus.com c.evans@clear.net.nz gerhard@bigfoot.de
lars@gustaebel.de gward@python.net
"""
_TRUE_URLS = """
http://zgp.org/pipermail/p2p-hackers/2001-September/000316.html
http://www.iana.org/time-zones/repository/tz-link.html http://www.w3.org/TR/NOTE-datetime
http://www.cl.cam.ac.uk/~mgk25/iso-time.html http://foo.com:/ http://foo.com/ http://wwwsearch.sf.net/
http://bugs.python.org http://mathworld.wolfram.com/Variance.html http://mathworld.wolfram.com/SampleVariance.html
https://url.spec.whatwg.org/#concept-basic-url-parser
"""
ALLOWLIST: frozenset[tuple[str, str]] = frozenset(
    [("EMAIL", v) for v in _TRUE_EMAILS.split()]
    + [("URL", v) for v in _TRUE_URLS.split()]
    + [
        ("MAC_ADDRESS", "52:54:00:9d:0e:67"),  # uuid.py: "MAC address (ex: '52:54:00:9d:0e:67')"
        ("IP_ADDRESS", "123:2:3:4:5:6:7:8"),  # uuid.py: "reject IPv6 address (ex: ... '123:2:3:4:5:6:7:8')"
        ("IP_ADDRESS", "123.45.67.89"),  # socket.py: "convert IP addr string (123.45.67.89)"
    ]
)

#: (type, exact matched text) checked by eye to be debatable rather than clearly wrong (none so far in the
#: standard library sample: a DATE_OF_BIRTH of a project or a company would go here)
DEBATABLE: frozenset[tuple[str, str]] = frozenset()

_DOC_NETS = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]
_VERSION_BEFORE = re.compile(r"(?:[vV]|version[ =:]*|release[ =:]*|build[ =:]*|[=<>~]=)\Z", re.IGNORECASE)
_VERSION_AFTER = re.compile(r"[-+~][A-Za-z]")


def debatable(kind: str, text: str, line: str, start: int, end: int, corpus: FpCorpus) -> str | None:
    """Why a finding is debatable rather than clearly wrong, or None."""
    if (kind, text) in DEBATABLE:
        return "reviewed"
    if kind == "DATE_OF_BIRTH" and (kind, text) in corpus.debatable:
        return "a project's birth date"
    if kind == "IP_ADDRESS":
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return None
        if any(ip in net for net in _DOC_NETS if net.version == ip.version):
            return "documentation range"
        if not ip.is_global:
            return "special-purpose"
        if ip.version == 4 and (
            text in corpus.versions
            or _VERSION_BEFORE.search(line[max(0, start - 10) : start])
            or _VERSION_AFTER.match(line[end:])
        ):
            return "version-like"
    return None


# ---------------------------------------------------------------------------------------------------
# Blocklist evasions

BLOCK_WORDS: tuple[str, ...] = ("bomb", "cocaine", "explosive", "heroin", "kill", "self-harm", "suicide")
_FRAMES_BLOCK = ("{w}", "how do I {w} it?", "Tell me about {w}.", "({w})", "the word {w}, spelled out")


def _interleave(word: str, mark: str) -> str:
    return "".join(c + mark for c in word[:-1]) + word[-1]


_CYRILLIC = str.maketrans("aceopxyi", "асеорхуі")
_GREEK = str.maketrans("aeoiknptxy", "αεοικηρτχγ")
_SMALL_CAPS = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡxʏᴢ")


def _dash(dash: str) -> Callable[[str], str | None]:
    return lambda w: w.replace("-", dash) if "-" in w else None


#: evasion name -> how it rewrites a word (None: not applicable to that word); the first four are controls
EVASIONS: dict[str, Callable[[str], str | None]] = {
    "control: plain": lambda w: w,
    "control: UPPER": str.upper,
    "control: full-width": lambda w: "".join(chr(ord(c) + 0xFEE0) if c != "-" else "－" for c in w),
    "control: zero-width space inside": lambda w: _interleave(w, "\u200b"),
    **{f"dash U+{cp:04X}": _dash(chr(cp)) for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212)},
    "combining U+0336 (strikethrough)": lambda w: "".join(c + "\u0336" for c in w),
    "combining U+034F (grapheme joiner)": lambda w: _interleave(w, "\u034f"),
    "variation selector U+FE0F": lambda w: _interleave(w, "\ufe0f"),
    "variation selector U+FE00": lambda w: _interleave(w, "\ufe00"),
    "Hangul filler U+3164": lambda w: _interleave(w, "\u3164"),
    "Hangul filler U+115F": lambda w: _interleave(w, "\u115f"),
    "Cyrillic homoglyphs": lambda w: w.translate(_CYRILLIC) if w.translate(_CYRILLIC) != w else None,
    "Greek homoglyphs": lambda w: w.translate(_GREEK) if w.translate(_GREEK) != w else None,
    "small capitals": lambda w: w.translate(_SMALL_CAPS),
    "dotless ı": lambda w: w.replace("i", "ı") if "i" in w else None,
    "_word_ (Markdown italics)": lambda w: f"_{w}_",
    "control: **word** (Markdown bold)": lambda w: f"**{w}**",
}


@dataclass(frozen=True, slots=True)
class Evasion:
    kind: str
    word: str
    text: str
    start: int
    end: int


def evasion_cases() -> Iterator[Evasion]:
    for kind, rewrite in EVASIONS.items():
        for word in BLOCK_WORDS:
            evaded = rewrite(word)
            if evaded is None:
                continue
            for frame in _FRAMES_BLOCK:
                start = frame.index("{w}")
                yield Evasion(kind, word, frame.replace("{w}", evaded), start, start + len(evaded))
