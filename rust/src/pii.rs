//! PII detection (the port of `checks/pii.py`): every type with its validators, exact spans, and the
//! stream hold-back. Linear in the input for every pattern.
//!
//! OWNED BY THE PII HELPER: replace the bodies, keep the public API.
//! All offsets are UTF-8 byte offsets into the original text.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiType {
    Email,
    Phone,
    Ssn,
    CreditCard,
    IpAddress,
    DateOfBirth,
    MacAddress,
    Url,
    Iban,
    AwsAccessKey,
    AwsSecretKey,
    ApiKey,
    Password,
}

impl PiiType {
    pub const ALL: [PiiType; 13] = [
        PiiType::Email,
        PiiType::Phone,
        PiiType::Ssn,
        PiiType::CreditCard,
        PiiType::IpAddress,
        PiiType::DateOfBirth,
        PiiType::MacAddress,
        PiiType::Url,
        PiiType::Iban,
        PiiType::AwsAccessKey,
        PiiType::AwsSecretKey,
        PiiType::ApiKey,
        PiiType::Password,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PiiType::Email => "EMAIL",
            PiiType::Phone => "PHONE",
            PiiType::Ssn => "SSN",
            PiiType::CreditCard => "CREDIT_CARD",
            PiiType::IpAddress => "IP_ADDRESS",
            PiiType::DateOfBirth => "DATE_OF_BIRTH",
            PiiType::MacAddress => "MAC_ADDRESS",
            PiiType::Url => "URL",
            PiiType::Iban => "IBAN",
            PiiType::AwsAccessKey => "AWS_ACCESS_KEY",
            PiiType::AwsSecretKey => "AWS_SECRET_KEY",
            PiiType::ApiKey => "API_KEY",
            PiiType::Password => "PASSWORD",
        }
    }

    pub fn from_name(name: &str) -> Option<PiiType> {
        PiiType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A compiled set of PII types. Built once at start-up; shared by concurrent scans.
pub struct PiiScanner {
    types: Vec<PiiType>,
    hold: crate::pii_holdback::PiiHoldback,
}

impl PiiScanner {
    pub fn new(types: &[PiiType], max_holdback_chars: usize) -> PiiScanner {
        PiiScanner {
            types: types.to_vec(),
            hold: crate::pii_holdback::PiiHoldback::new(types, max_holdback_chars),
        }
    }

    pub fn types(&self) -> &[PiiType] {
        &self.types
    }

    /// Every match starting at or after `pos` (byte offsets into `text`), sorted by (start, end,
    /// type name), without duplicates: exactly `PiiCheck.find`.
    pub fn find(&self, text: &str, pos: usize) -> Vec<(usize, usize, PiiType)> {
        let _ = (text, pos);
        Vec::new()
    }

    /// Exactly `PiiCheck.holdback`, in byte offsets (the cap counts characters).
    pub fn holdback(&self, text: &str, pos: usize) -> usize {
        self.hold.holdback(text, pos)
    }
}
