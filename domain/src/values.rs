//! Validated value types. Each constructor enforces one rule of DESIGN.md's
//! Domain section, so a value that exists is a valid value.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const MAX_LINES: usize = 100;
pub const QUANTITY_RANGE: std::ops::RangeInclusive<u32> = 1..=1000;
pub const UNIT_PRICE_RANGE: std::ops::RangeInclusive<u64> = 1..=100_000_000;
pub const MAX_CUSTOMER_ID_CHARS: usize = 128;
pub const MAX_SKU_CHARS: usize = 64;
pub const MAX_REASON_CHARS: usize = 500;
pub const MAX_TRACKING_NUMBER_CHARS: usize = 64;

/// The aggregate id: a UUID, like the legacy `shop_order.id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct OrderId(pub Uuid);

impl OrderId {
    /// The order id an `Idempotency-Key` stands for: the same caller with
    /// the same key always names the same order, so the conditional write is
    /// the idempotency check; another caller's same key names another order.
    /// `caller` is the principal's [`key_namespace`](crate::access::Principal::key_namespace).
    pub fn from_idempotency_key(caller: &str, key: &str) -> Self {
        const NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_722d_7065_6e64_696e_672d_6964);
        // The caller's part is length-prefixed, so no (caller, key) pair can
        // be spelled like another.
        let name = format!("{}:{caller}{key}", caller.len());
        OrderId(Uuid::new_v5(&NAMESPACE, name.as_bytes()))
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for OrderId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(OrderId)
    }
}

/// A product SKU: the legacy product slug, `^[a-z0-9][a-z0-9-]{0,63}$`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(extend("pattern" = "^[a-z0-9][a-z0-9-]{0,63}$"))]
pub struct Sku(String);

impl Sku {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if first_ok && rest_ok && value.len() <= MAX_SKU_CHARS {
            Ok(Sku(value.to_owned()))
        } else {
            Err("must match ^[a-z0-9][a-z0-9-]{0,63}$")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Sku::parse(&value)
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> String {
        sku.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The customer: 1–128 printable characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(extend("minLength" = 1, "maxLength" = 128))]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_CUSTOMER_ID_CHARS {
            Err("must be 1 to 128 characters")
        } else if !value.chars().all(is_printable) {
            Err("must contain only printable characters")
        } else {
            Ok(CustomerId(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CustomerId {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        CustomerId::parse(&value)
    }
}

impl From<CustomerId> for String {
    fn from(id: CustomerId) -> String {
        id.0
    }
}

/// Not a control, format (zero-width, direction override, BOM), separator
/// or private-use character: text that shows as what it is, in the legacy
/// back office too.
pub fn is_printable(c: char) -> bool {
    !c.is_control()
        && !matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E000}'..='\u{F8FF}'
            | '\u{F0000}'..='\u{10FFFF}')
}

/// An active ISO-4217 currency code.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(extend("pattern" = "^[A-Z]{3}$"))]
pub struct Currency(String);

/// ISO 4217 active alphabetic codes (list one, 2024), funds codes excluded.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC",
    "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS",
    "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD",
    "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

impl Currency {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if !ISO_4217.contains(&value) {
            return Err("must be an active ISO-4217 code such as EUR or USD");
        }
        Ok(Currency(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.0
    }
}

/// One line of an order.
// Ranges are enforced by `quantity` and `unit_price_cents`; the attributes
// state them in the schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub sku: Sku,
    #[schemars(range(min = 1, max = 1000))]
    pub quantity: u32,
    #[schemars(range(min = 1, max = 100_000_000))]
    pub unit_price_cents: u64,
}

impl AsRef<Sku> for OrderLine {
    fn as_ref(&self) -> &Sku {
        &self.sku
    }
}

impl OrderLine {
    pub fn total_cents(&self) -> u64 {
        u64::from(self.quantity) * self.unit_price_cents
    }
}

/// A line's quantity: signed input, so a negative number is reported as out
/// of range rather than as a type error.
pub fn quantity(value: i64) -> Result<u32, &'static str> {
    u32::try_from(value).ok().filter(|q| QUANTITY_RANGE.contains(q)).ok_or("must be an integer from 1 to 1000")
}

/// A line's unit price in minor units, like `quantity`.
pub fn unit_price_cents(value: i64) -> Result<u64, &'static str> {
    u64::try_from(value).ok().filter(|p| UNIT_PRICE_RANGE.contains(p)).ok_or("must be an integer from 1 to 100000000")
}

/// Free text of at most `max` printable characters.
fn short_text(value: &str, max: usize) -> Result<String, String> {
    if value.is_empty() || value.chars().count() > max {
        Err(format!("must be 1 to {max} characters"))
    } else if !value.chars().all(is_printable) {
        Err("must contain only printable characters".to_owned())
    } else {
        Ok(value.to_owned())
    }
}

/// Why an order is cancelled or rejected: 1–500 printable characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub fn parse(value: &str) -> Result<Self, String> {
        short_text(value, MAX_REASON_CHARS).map(Reason)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> String {
        reason.0
    }
}

/// The carrier's tracking number of a shipment: 1–64 printable characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackingNumber(String);

impl TrackingNumber {
    pub fn parse(value: &str) -> Result<Self, String> {
        short_text(value, MAX_TRACKING_NUMBER_CHARS).map(TrackingNumber)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<TrackingNumber> for String {
    fn from(tracking_number: TrackingNumber) -> String {
        tracking_number.0
    }
}
