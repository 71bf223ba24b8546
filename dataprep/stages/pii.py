"""Find and replace personal data: e-mail, IP address, Chinese resident ID, mobile and landline.

Matching runs on a normalised *view* of the text: every character whose NFKC form is a single
character is replaced by it (full-width digits, brackets, ＠, Ｘ, the ideographic space), the
rest stay as they are, so the view has the same length as the text and an offset in the view
is the offset in the original. Replacements are then made in the original text: nothing
outside a replaced span changes, full-width punctuation included.

Phone numbers: a regex over the view picks runs of digits and phone punctuation holding at
least 7 digits (most text has none, so libphonenumber, pure Python and ~50 us a parse, runs on
few of them). A run is cut into digit groups, and the longest window of groups from each group
on that libphonenumber (region CN) parses as a valid number is taken, so lists, dates and
extensions around a number are handled. Kept: service numbers (400 / 800 / 95xxx, premium,
shared cost), CN landlines written without their trunk 0 or a country code, foreign numbers
without a written country code (except North American ones in their (NXX) NXX-XXXX shape).
Replaced besides libphonenumber's valid numbers: CN landlines of a real area code whose local
length its metadata does not know yet, 7-8 digit local numbers right after 电话 / Tel / 传真 or
listed after a landline (电话：0571-87654321、87654322), North American numbers written
NXX NXX XXXX right after Phone / Tel / Call. Brackets around a whole number stay in the text
(张先生（138...）, [拨号](tel:138...)); no number starts inside a decimal (0.18913990152).
ID numbers: 18 characters with the check character, and the 15-digit first-generation numbers
right after 身份证 / 证件. IPv4-mapped IPv6 addresses (::ffff:192.0.2.1) are replaced whole.
`PhoneNumberMatcher` itself was measured too (benchmarks/bench_pii.py): it misses extensions
and replaces hotlines, order and invoice numbers.

Look-alikes are kept by construction (digit boundaries, validity, ID check character) and by a
few labels: a digit run right after 订单号 / tracking no. / ISBN ... is not a phone, a dotted
quad after "version" / v / 版本 / 版, a netmask or a network (10.0.0.0/8) is not an IP address.
benchmarks/pii_heldout.py is a second, independently written labelled set.
"""
from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import re
import unicodedata
from typing import TYPE_CHECKING, Iterable

import phonenumbers
from phonenumbers import PhoneNumberType

from dataprep.core import Document, Stage, StageStats

if TYPE_CHECKING:
    from dataprep.stages.safety import SafetyConfig

PII_TYPES = ("email", "ip", "id_card", "mobile", "landline")
PII_ALIASES = {"phone": ("mobile", "landline")}     # the single phone type of older configs
PLACEHOLDERS = {"email": "<EMAIL>", "ip": "<IP>", "id_card": "<ID_CARD>",
                "mobile": "<PHONE>", "landline": "<PHONE>"}
EXAMPLE_CONTEXT = 30          # characters kept either side of a placeholder in report examples


def expand_types(types: Iterable[str]) -> tuple[str, ...]:
    """Config types with the `phone` alias expanded, in PII_TYPES order."""
    wanted = set()
    for kind in types:
        wanted.update(PII_ALIASES.get(kind, (kind,)))
    return tuple(k for k in PII_TYPES if k in wanted)


# ---- normalised view -------------------------------------------------------------------

class _Nfkc1(dict):
    """str.translate table: a character -> its NFKC form when that is one character, else itself.

    Filled lazily (each distinct character is normalised once per process) so that the view
    costs one C-level table lookup per character.
    """

    def __missing__(self, code: int) -> int:
        norm = unicodedata.normalize("NFKC", chr(code))
        self[code] = value = ord(norm) if len(norm) == 1 else code
        return value


_NFKC1 = _Nfkc1()


def normalized_view(text: str) -> str:
    """Same length as `text`; full-width and other compatibility characters folded by NFKC."""
    return text if text.isascii() else text.translate(_NFKC1)


# ---- ID numbers --------------------------------------------------------------------------

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
# province-level prefixes of GB/T 2260 region codes (plus 71/81/82/83 used on resident permits)
ID_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
# 18 characters, a single space or hyphen allowed between any two (ID numbers are often written
# 6-8-4 or 6-4-4-4); the check character makes loose grouping safe. Patterns in this module
# start with a character class and test the character before it with a lookbehind placed after
# it ([0-9](?<!X[0-9])): Python's re then skips to candidate characters, ~4x faster than a
# leading lookbehind, which is tried at every position.
ID_CARD_RE = re.compile(r"[0-9](?<![0-9A-Za-z][0-9])(?:[ -]?[0-9]){16}[ -]?[0-9Xx](?![0-9A-Za-z])")


# First-generation ID numbers (issued until 1999, still in old records): 15 digits, region,
# YYMMDD, sequence, no check character. Without a check character a bare 15-digit run is more
# often an order or card number, so only right after an ID label.
OLD_ID_CARD_RE = re.compile(r"[0-9](?<![0-9A-Za-z][0-9])[0-9]{14}(?![0-9A-Za-z])")
ID_LABEL_RE = re.compile(r"(?:身份证|身份号码|证件)(?:号码|号)?(?:是|为)?\s*[:：]?\s*$")
_ID_LABEL_HINTS = ("身份", "证件")


def valid_old_id_card(number: str) -> bool:
    """15-digit first-generation ID: known province and a real 19YY birth date."""
    if len(number) != 15 or not number.isdigit() or int(number[:2]) not in ID_PROVINCES:
        return False
    try:
        datetime.date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
    except ValueError:
        return False
    return True


def valid_id_card(number: str) -> bool:
    """18-character Chinese resident ID: known province, real birth date, MOD 11-2 check char."""
    if len(number) != 18 or not number[:17].isdigit() or not number[:17].isascii():
        return False
    if int(number[:2]) not in ID_PROVINCES:
        return False
    try:
        birth = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not datetime.date(1900, 1, 1) <= birth <= datetime.date.today():
        return False
    return id_check_char(number[:17]) == number[17].upper()


def id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits (also used to make test numbers)."""
    return ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


# ---- e-mail ------------------------------------------------------------------------------

# ASCII-only boundaries: in Python's re a Han character is \w, and e-mails often touch Chinese text
_LOCAL = r"[A-Za-z0-9](?<![A-Za-z0-9._%+-][A-Za-z0-9])[A-Za-z0-9._%+-]*"
_DOMAIN_END = r"(?![A-Za-z0-9-])"
EMAIL_RE = re.compile(_LOCAL + r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}" + _DOMAIN_END)
# Spam-proofed addresses on Chinese and English pages: a [at] b [dot] com, a(at)b.com,
# a AT b DOT com (bare words need both: "more at nytimes.com" is prose), a @ b.com, a@ b.com,
# a(艾特)b.com (艾特 is how @ is read aloud in Chinese),
# a#163.com / a★163.com ("#换成@": common TLDs only, so C#.NET or tags stay).
_BR_AT = r"\s*[\[({<【]\s*(?:at|AT|At|艾特)\s*[\])}>】]\s*"
_BR_DOT = r"\s*[\[({<【]\s*(?:dot|DOT|Dot)\s*[\])}>】]\s*"
OBFUSCATED_EMAIL_RE = re.compile(
    _LOCAL + rf"(?:{_BR_AT}[A-Za-z0-9-]+(?:(?:\.|{_BR_DOT}|\s+(?:dot|DOT)\s+)[A-Za-z0-9-]+)*"
    rf"(?:\.|{_BR_DOT}|\s+(?:dot|DOT)\s+)[A-Za-z]{{2,}}"
    r"|\s+(?:at|AT)\s+[A-Za-z0-9-]+(?:\s+(?:dot|DOT)\s+[A-Za-z0-9-]+)+"
    r"|(?:\s+@\s*|@\s+)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
    r"|[#★☆◎][A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|cn|net|org|edu|gov)(?:\.cn)?)" + _DOMAIN_END)
# cheap tests for the spam-proofed forms, so the full pattern runs on few documents
_OBFUSCATED_HINT_RE = re.compile(r"[\[({<【]\s*(?:at|AT|At|艾特)\s*[\])}>】]|[#★☆◎][A-Za-z0-9]")
_OBFUSCATED_HINTS = (" @", "@ ", " dot ", " DOT ")

# ---- IP addresses ------------------------------------------------------------------------

# octets are checked by ipaddress (0-255, no leading zeros: 01.02.03.04 is not an address)
# not after "Name/": Chrome/120.0.6099.109, Firefox/3.6.28.1 in user-agent strings are versions
IPV4_RE = re.compile(r"[0-9](?<![0-9A-Za-z_.][0-9])(?<![A-Za-z]/[0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}"
                     r"(?![0-9A-Za-z_]|\.[0-9]|[-+][A-Za-z])")         # 1.2.3.4-beta, 1.2.3.4.5: versions
# may follow a label's colon (IP：fe80::1, the full-width colon folds to ':'), not a hex group's
IPV6_RE = re.compile(r"(?<![0-9A-Za-z_.])(?<![0-9A-Fa-f]:)(?!:[^:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"
                     r"(?![0-9A-Za-z_:]|\.[0-9])")
# the IPv6 part before an embedded IPv4 address (::ffff:192.0.2.1 in dual-stack server logs,
# 64:ff9b::192.0.2.1), which the IPv4 pattern finds first
IPV6_HEAD_RE = re.compile(r"(?<![0-9A-Za-z_.:])(?:[0-9A-Fa-f]{0,4}:){2,6}$")
# a dotted quad right after these words is a version, build or section number, not an address
# (Chinese words may follow a letter: 微信PC版 3.9.8.25, 安卓版 ...)
NOT_IP_LABEL_RE = re.compile(r"(?:(?<![A-Za-z])(?:version|ver\.?|release|build|firmware|kernel|rev\.?|section|chapter|"
                             r"update|upgrade|android|ios|windows|macos)|"
                             r"版本?号?|固件|内核|升级|更新|第|章节|条款)(?:[\s:：=]|号|为|是|到|至|to|no\.?){0,3}$"
                             r"|[=<>~!]=\s*$", re.IGNORECASE)
CIDR_RE = re.compile(r"/([0-9]{1,2})(?![0-9])")
NOT_IP_SUFFIX = tuple("节章条款项版")                     # 第1.2.3.4节, 1.2.3.4版


def _is_address(quad: str, before: str, after: str) -> bool:
    """A dotted quad that is an address: octets 0-255, not a netmask, 0.0.0.0 or a network
    (10.0.0.0/8: host bits zero), not labelled as a version."""
    if after[:1] in NOT_IP_SUFFIX or NOT_IP_LABEL_RE.search(before):
        return False
    try:
        value = int(ipaddress.IPv4Address(quad))
    except ValueError:
        return False
    prefix = CIDR_RE.match(after)
    if prefix and int(prefix.group(1)) <= 32 and value & (0xFFFFFFFF >> int(prefix.group(1))) == 0:
        return False
    inverted = ~value & 0xFFFFFFFF
    is_mask = value >> 24 == 255 and inverted & (inverted + 1) == 0     # 255.255.255.0, 255.255.0.0 ...
    return value != 0 and not is_mask


def _ipv4_start(view: str, start: int, quad: str) -> int:
    """Where the address ending in the dotted quad at `start` begins: earlier when the quad is
    the tail of an IPv6 address (::ffff:192.0.2.1), so that no "::ffff:" is left behind."""
    if start and view[start - 1] == ":":
        head = IPV6_HEAD_RE.search(view, max(0, start - 30), start)
        if head:
            try:
                ipaddress.IPv6Address(head.group() + quad)
                return head.start()
            except ValueError:
                pass
    return start


def _is_ipv6(candidate: str) -> bool:
    """A real IPv6 address: parses, has a digit, two groups and five hex digits (so std::map,
    a::b, 10::20 and ::1 never do)."""
    groups = [g for g in candidate.split(":") if g]
    if len(groups) < 2 or len("".join(groups)) < 5 or not any(c.isdigit() for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


# ---- phone numbers -----------------------------------------------------------------------

_DASHES = "\u2010-\u2015\u2212"
# a run of digits and phone punctuation (space, dashes, dot, brackets, +) that starts and ends
# with a digit (or a closing bracket); not glued to '@', a URL path (a/138...; 138.../139...
# is a list) or a longer dotted number.
# A letter or dot right before it is allowed only after a phone label (TEL13812345678). The
# lookahead wants MIN_PHONE_DIGITS (7) digits, so short numbers never reach Python code.
PHONE_CANDIDATE_RE = re.compile(
    rf"(?<![0-9_@+{_DASHES}-])(?<![0-9]\.)(?<![A-Za-z_.%-]/)\+?\(?\+?"
    rf"(?=[0-9](?:[ .()+{_DASHES}-]{{0,3}}[0-9]){{6}})[0-9](?:[0-9]|[ .()+{_DASHES}-]{{1,3}}(?=[0-9(]))*\)?"
    r"(?![0-9A-Za-z_@]|\.[0-9])")
DENSE_DIGITS_RE = re.compile(rf"[0-9](?:[ .()+{_DASHES}-]{{0,3}}[0-9]){{6}}")
NON_DIGIT_RE = re.compile(r"[^0-9]")
DIGIT_RUN_RE = re.compile(r"[0-9]+")
MIN_PHONE_DIGITS = 7            # a CN local number has 7-8 digits; shorter runs are codes, years, amounts
MAX_PHONE_DIGITS = 17           # +86 0755 8888 6666 with IDD 00: longer runs are codes and tables
MAX_GROUPS = 6                  # +86 (0)10 6275 1234 has 5 digit groups
# a digit group with its brackets and plus sign: +86, (010), (0)10, 6275
PHONE_GROUP_RE = re.compile(r"[+(]*[0-9]+\)?(?:[0-9]+\)?)*")
DASH_EXTENSION_RE = re.compile(rf"[{_DASHES}-][0-9]{{1,5}}")                 # 010-62751234-8001
# (NXX) NXX-XXXX, NXX-NXX-XXXX, 1-NXX-NXX-XXXX: North American numbers in English text
# written without +1 (1-800-555-0199 would otherwise read as the CN mobile 180 0555 0199)
NANP_RE = re.compile(r"(?:1[-. ])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-.])[2-9][0-9]{2}[-.][0-9]{4}")
# NXX NXX XXXX with spaces only: a North American number only after a phone label ("Phone:
# 415 392 1234"); unlabelled, three spaced groups are as often a table row
NANP_SPACED_RE = re.compile(r"[2-9][0-9]{2} [2-9][0-9]{2} [0-9]{4}")
EN_PHONE_LABEL_RE = re.compile(
    r"(?<![A-Za-z])(?:tel|telephone|phone|ph|fax|mobile|cell|call(?:\s+us)?(?:\s+at)?)\.?\s*[:：]?\s*$", re.IGNORECASE)
# Labels that make a digit run something else than a phone: order, tracking, invoice numbers...
NOT_PHONE_LABEL_RE = re.compile(
    r"(?<![A-Za-z])(?:订单|单号|运单|快递|物流|发票|票据|票号|流水|交易|批号|批次|货号|型号|序列|条码|编号|编码|合同|"
    r"证书|工号|学号|邮编|邮政编码|ISBN|ISSN|order|tracking|invoice|serial|SKU|transaction|receipt|"
    r"ref(?:erence)?|zip|postcode)(?:\s*(?:代码|号码|编号|编码|单号|号|码|no\.?|number|num|code|id))?\s*[:：#]?\s*$",
    re.IGNORECASE)
# A 7-8 digit number without area code is a landline only right after one of these labels
PHONE_LABEL_RE = re.compile(r"(?<![A-Za-z])(?:电话|座机|固话|总机|传真|联系方式|tel|phone|fax)(?:号码|号)?\.?\s*[:：]?\s*$",
                            re.IGNORECASE)
GLUED_LABEL_RE = re.compile(r"(?<![A-Za-z])(?:tel|phone|mobile|mob|cell|fax|call)\.?$", re.IGNORECASE)
LANDLINE_SHAPE_RE = re.compile(
    rf"(?:(?:\+|00)86[ {_DASHES}-]?(?:\(0\))?|86-)?\(?(?P<area>0?(?:10|2[0-9]|[3-9][0-9]{{2}}))\)?[ {_DASHES}-]?"
    rf"(?P<local>[2-9][0-9]{{2,3}}[ {_DASHES}-]?[0-9]{{4}})")
LOCAL_NUMBER_RE = re.compile(r"[2-8][0-9]{2,3}[ -]?[0-9]{4}")     # 9: 95xxx / 96xxx service numbers
LABEL_WINDOW = 16               # characters before a number searched for a label
# what separates the numbers of a list: 电话：0571-87654321、87654322 / 87654323 (the later local
# numbers share the first one's area code and label)
LIST_SEPARATOR_RE = re.compile(r"[ \t]*(?:[、,/;]|或)?[ \t]*")
SERVICE_TYPES = {PhoneNumberType.TOLL_FREE, PhoneNumberType.UAN, PhoneNumberType.PREMIUM_RATE,
                 PhoneNumberType.SHARED_COST, PhoneNumberType.VOICEMAIL}
MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.PAGER}


def _phone_kind(number: phonenumbers.PhoneNumber) -> str | None:
    """"mobile", "landline", or None for a service line to keep (400 / 800 / 95xxx ...)."""
    ntype = phonenumbers.number_type(number)
    if ntype in SERVICE_TYPES or ntype == PhoneNumberType.UNKNOWN:
        return None
    return "mobile" if ntype in MOBILE_TYPES else "landline"


def _may_be_phone(window: str, en_labelled: bool = False) -> bool:
    """Could this window be replaced at all? A cheap test before libphonenumber (~50 us a parse)
    that also holds the rules on how numbers are written. With + anything libphonenumber
    accepts; a North American shape; otherwise a CN number: trunk 0 for a landline (else any
    10-digit run fitting an area code would go) or an 11-digit mobile, optionally after 86- or
    0086, in at most 3 groups of 3+ digits (2 for an area code after 86), a landline's last
    of 4+ (138 1234 5678, 0755-8888-6666, 1381234 5678), which a table of numbers rarely is."""
    digits = NON_DIGIT_RE.sub("", window)
    if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        return False
    if window.lstrip("(")[:1] == "+" or NANP_RE.fullmatch(window) or en_labelled and NANP_SPACED_RE.fullmatch(window):
        return True
    groups = [len(g) for g in DIGIT_RUN_RE.findall(window)]
    first_min = 3
    if len(groups) > 1 and (groups[0], digits[:groups[0]]) in ((2, "86"), (4, "0086")):
        digits, groups, first_min = digits[groups[0]:], groups[1:], 2
    mobile = digits[0] == "1" and len(digits) == 11
    if not (first_min == 2 or digits[0] == "0" or mobile):
        return False
    last_min = 3 if mobile else 4           # 1381 2345 678 is seen; a landline ends in 4 digits
    return (len(groups) <= 3 and groups[0] >= first_min and min(groups[1:], default=4) >= 3
            and groups[-1] >= last_min)


def _classify(window: str, en_labelled: bool = False) -> tuple[bool, str | None]:
    """(is a valid number, kind to replace or None) for one window of digit groups."""
    # before CN: (415) 555-2671 also fits a CN area code
    if NANP_RE.fullmatch(window) or en_labelled and NANP_SPACED_RE.fullmatch(window):
        number = phonenumbers.parse(window, "US")
        if phonenumbers.is_valid_number(number):
            return True, _phone_kind(number)
    try:
        number = phonenumbers.parse(window, "CN")
    except phonenumbers.NumberParseException:
        return False, None
    if not phonenumbers.is_valid_number(number):
        return (True, "landline") if _landline_shape(window) else (False, None)
    return True, _phone_kind(number)


def _landline_shape(window: str) -> bool:
    """A CN landline libphonenumber rejects only for its local length (0351-12345678 where the
    metadata says 7 digits; such tables lag behind renumbering): trunk 0 or +86, a real area
    code, a 7-8 digit local number starting 2-9 whose last group has 4 digits."""
    shape = LANDLINE_SHAPE_RE.fullmatch(window)
    if not shape or not (window.lstrip("(")[:1] in ("0", "+") or window.startswith("86-")):
        return False
    area, local = shape.group("area"), NON_DIGIT_RE.sub("", shape.group("local"))
    if area[0] != "0":
        area = "0" + area
    other_length = local[:7] if len(local) == 8 else local + "8"
    return phonenumbers.is_valid_number(phonenumbers.parse(area + other_length, "CN"))


def _without_outer_brackets(view: str, start: int, end: int) -> tuple[int, int]:
    """A number's span less the brackets that belong to the text around it: 张先生（13812345678）,
    [拨号](tel:13812345678). Brackets inside the number stay: (010)6275 1234, (+86) 138 ..."""
    number = view[start:end]
    opening, closing = number.count("("), number.count(")")
    if number[0] == "(" and number[-1] == ")" and opening == closing == 1:
        return start + 1, end - 1
    if number[-1] == ")" and closing > opening:
        end -= 1
    if number[0] == "(" and opening > closing:
        start += 1
    return start, end


def _find_phones(view: str, start: int, end: int, listed_after: int | None = None) -> list[tuple[int, int, str]]:
    """Phone numbers inside the candidate run view[start:end], as (start, end, kind).

    The run is cut into digit groups; from each group on, the longest window of groups that
    libphonenumber finds valid is taken (so a list "138... 139..." gives two numbers and a
    service number is skipped whole), then the next group after it is tried. `listed_after`:
    the end of a landline found just before the run (for a list of local numbers).
    """
    en_labelled = bool(EN_PHONE_LABEL_RE.search(view, max(0, start - LABEL_WINDOW), start))
    groups = [(m.start(), m.end()) for m in PHONE_GROUP_RE.finditer(view, start, end)]
    digits_before = [0]                 # digits in groups[:k], for a cheap length test per window
    for g_start, g_end in groups:
        digits_before.append(digits_before[-1] + sum(c.isdigit() for c in view[g_start:g_end]))
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(groups):
        taken = 0
        if view[groups[i][0] - 1] == "." and i > 0:
            i += 1          # no number starts after a dot in a run: 0.18913990152 is a decimal
            continue
        single = digits_before[i + 1] - digits_before[i] == 1 and view[groups[i][0]] not in "+(1"
        for j in range(min(len(groups), i + MAX_GROUPS) - 1, i - 1, -1):
            if single or not MIN_PHONE_DIGITS <= digits_before[j + 1] - digits_before[i] <= MAX_PHONE_DIGITS:
                continue    # "0.25 0.5": no number starts with a lone digit but +86, (0), 1-800
            window = view[groups[i][0]:groups[j][1]]
            if " " in window and (i > 0 and view[groups[i - 1][1]:groups[i][0]] == " " or
                                  j + 1 < len(groups) and view[groups[j][1]:groups[j + 1][0]] == " "):
                continue    # spaced groups inside a longer spaced run: a table of numbers
            if "+" in window[2:] or not _may_be_phone(window, en_labelled and i == 0):
                continue
            valid, kind = _classify(window, en_labelled and i == 0)
            if valid:
                w_end = groups[j][1]
                extension = DASH_EXTENSION_RE.match(view, w_end, end)
                if kind and j + 1 < len(groups) and extension and extension.end() == groups[j + 1][1]:
                    w_end, j = extension.end(), j + 1      # 010-62751234-8001: the extension goes too
                if kind:
                    found.append((*_without_outer_brackets(view, groups[i][0], w_end), kind))
                taken = j - i + 1
                break
        if not taken and LOCAL_NUMBER_RE.fullmatch(view, groups[i][0], end) and (
                PHONE_LABEL_RE.search(view, max(0, groups[i][0] - LABEL_WINDOW), groups[i][0])
                or _listed_local(view, groups[i][0], found[-1] if found else None, listed_after)):
            found.append((groups[i][0], end, "landline"))
            break
        i += taken or 1
    return found


def _listed_local(view: str, start: int, previous: tuple[int, int, str] | None, listed_after: int | None) -> bool:
    """A 7-8 digit local number at `start` listed right after a landline (电话：0571-87654321、
    87654322; 010-62751234 62751235): the same label and area code hold for it."""
    if previous is not None:
        listed_after = previous[1] if previous[2] == "landline" else None
    return listed_after is not None and bool(LIST_SEPARATOR_RE.fullmatch(view, listed_after, start))


# ---- finding and replacing ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PiiSpan:
    start: int                # offsets in the original text (equal to those in the view)
    end: int
    kind: str                 # one of PII_TYPES


def _mask(view: str, spans: list[PiiSpan]) -> str:
    """The view with found spans blanked (same length), so later kinds cannot match inside them."""
    if not spans:
        return view
    parts, last = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        parts += [view[last:span.start], "\x00" * (span.end - span.start)]
        last = span.end
    parts.append(view[last:])
    return "".join(parts)


def _phone_candidates(view: str) -> Iterable[re.Match[str]]:
    """PHONE_CANDIDATE_RE's matches, searched for only where DENSE_DIGITS_RE (fast: it starts
    with a character class) finds 7 digits close together."""
    pos = 0
    for dense in DENSE_DIGITS_RE.finditer(view):
        if dense.end() <= pos:
            continue
        match = PHONE_CANDIDATE_RE.search(view, max(pos, dense.start() - 3))   # 3: "(+8" before 6
        if match is None:
            return
        pos = match.end()
        yield match


def find_pii(text: str, types: Iterable[str] = PII_TYPES) -> list[PiiSpan]:
    """Non-overlapping PII spans of `text`, sorted by position.

    Kinds are searched in priority order on the view, each masking what it found: e-mails
    first (they contain digit runs), then ID numbers (18 digits would hold a mobile), IPs, phones.
    """
    kinds = set(expand_types(types))
    view = normalized_view(text)
    spans: list[PiiSpan] = []
    if "email" in kinds:
        if "@" in view:
            spans += [PiiSpan(m.start(), m.end(), "email") for m in EMAIL_RE.finditer(view)]
        if any(h in view for h in _OBFUSCATED_HINTS) or _OBFUSCATED_HINT_RE.search(view):
            spans += [PiiSpan(m.start(), m.end(), "email") for m in OBFUSCATED_EMAIL_RE.finditer(_mask(view, spans))]
    if "id_card" in kinds:
        for m in ID_CARD_RE.finditer(_mask(view, spans)):
            if valid_id_card(m.group().replace(" ", "").replace("-", "")):
                spans.append(PiiSpan(m.start(), m.end(), "id_card"))
        if any(h in view for h in _ID_LABEL_HINTS):
            masked = _mask(view, spans)
            spans += [PiiSpan(m.start(), m.end(), "id_card") for m in OLD_ID_CARD_RE.finditer(masked)
                      if valid_old_id_card(m.group())
                      and ID_LABEL_RE.search(masked, max(0, m.start() - LABEL_WINDOW), m.start())]
    if "ip" in kinds:
        masked = _mask(view, spans)
        if "." in masked:
            spans += [PiiSpan(_ipv4_start(masked, m.start(), m.group()), m.end(), "ip")
                      for m in IPV4_RE.finditer(masked)
                      if _is_address(m.group(), masked[max(0, m.start() - LABEL_WINDOW):m.start()],
                                     masked[m.end():m.end() + 4])]
        if "::" in masked or masked.count(":") >= 7:
            spans += [PiiSpan(m.start(), m.end(), "ip") for m in IPV6_RE.finditer(masked) if _is_ipv6(m.group())]
    if kinds & {"mobile", "landline"}:
        masked = _mask(view, spans)
        landline_end = None         # end of the last landline found, for a list of local numbers
        for m in _phone_candidates(masked):
            glued = masked[m.start() - 1:m.start()]
            if glued and (glued == "." or glued.isascii() and glued.isalpha()) and \
                    not GLUED_LABEL_RE.search(masked, max(0, m.start() - 8), m.start()):
                continue
            if NOT_PHONE_LABEL_RE.search(masked[max(0, m.start() - LABEL_WINDOW):m.start()]):
                continue
            phones = _find_phones(masked, m.start(), m.end(), landline_end)
            spans += [PiiSpan(s, e, k) for s, e, k in phones if k in kinds]
            landline_end = phones[-1][1] if phones and phones[-1][2] == "landline" else None
    return sorted(spans, key=lambda s: s.start)


def replace_spans(text: str, spans: list[PiiSpan]) -> tuple[str, list[tuple[int, int, str]]]:
    """`text` with each span replaced by its placeholder, and (start, end, kind) of each
    placeholder in the result."""
    parts, placed, last, shift = [], [], 0, 0
    for span in spans:
        placeholder = PLACEHOLDERS[span.kind]
        parts += [text[last:span.start], placeholder]
        new_start = span.start + shift
        placed.append((new_start, new_start + len(placeholder), span.kind))
        shift += len(placeholder) - (span.end - span.start)
        last = span.end
    parts.append(text[last:])
    return "".join(parts), placed


def scrub_pii(text: str, types: Iterable[str] = PII_TYPES) -> tuple[str, dict[str, int]]:
    """Text with PII replaced by placeholders, and how many of each kind were replaced."""
    spans = find_pii(text, types)
    counts: dict[str, int] = {}
    for span in spans:
        counts[span.kind] = counts.get(span.kind, 0) + 1
    return replace_spans(text, spans)[0], counts


class PiiScrubber(Stage):
    """Replaces personal data with <EMAIL>, <IP>, <ID_CARD>, <PHONE>; never removes a document.

    Counts `pii.<kind>` per replaced span and `pii.docs_changed`; keeps a few examples per kind
    (the scrubbed text around the placeholder, never the value) for the report.
    """

    name = "pii"

    def __init__(self, cfg: SafetyConfig):
        self.types = expand_types(cfg.pii)

    def apply(self, doc: Document, stats: StageStats) -> Document | None:
        spans = find_pii(doc.text, self.types)
        if not spans:
            return doc
        doc.text, placed = replace_spans(doc.text, spans)
        for start, end, kind in placed:
            stats.count(f"pii.{kind}")
            stats.example(f"pii.{kind}", doc.text[max(0, start - EXAMPLE_CONTEXT):end + EXAMPLE_CONTEXT])
        stats.count("pii.docs_changed")
        return doc
