//! Segment groups: the flat segment list turned into the groups a mapper needs.
//!
//! One walk (the private `walker` module) serves every supported structure, because they share one shape:
//! header segments, then per patient its visit, notes and observations, then orders, each with
//! its timing, notes, observations and specimens. SIU adds the schedule (SCH) and resource
//! groups (RGS with AIS/AIG/AIL/AIP), MDM the document (TXA with its OBX), OML^O21 prior
//! results (a PID or PV1 after an order opens a prior-result patient under that order).
//!
//! Tolerance: optional segments may be missing or in an unexpected place; a segment the walk
//! has no slot for (NK1, AL1, IN1, PRT, Z-segments, ...) is kept in the `others` list of the
//! group it appears in, so nothing is lost. What a structure requires is checked after the
//! walk ([`group`]): a missing required segment is a [`GroupError::MissingSegment`] (an AE for
//! the acknowledgement), an unsupported message type or event a [`GroupError::Unsupported`]
//! (an AR).
//!
//! Supported: ADT (every trigger; A39-A42 require MRG per patient), ORU^R01, ORM^O01, OML^O21,
//! SIU^S12-S26, VXU^V04, MDM^T01-T11.

mod walker;

use crate::ack::{AckError, ErrorLocation, Hl7ErrorCode};
use crate::er7::{Message, Segment};
use thiserror::Error;

/// The message structures the grouping step knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    /// ADT (admit, discharge, transfer, merge, ...).
    Adt,
    /// ORU^R01, unsolicited observation results.
    Oru,
    /// ORM^O01, general order.
    Orm,
    /// OML^O21, laboratory order.
    Oml,
    /// SIU, scheduling.
    Siu,
    /// VXU^V04, vaccination update.
    Vxu,
    /// MDM, medical document management.
    Mdm,
}

impl Structure {
    /// The structure for MSH-9.1 and MSH-9.2, if supported.
    pub fn of(message_code: &str, trigger: &str) -> Option<Structure> {
        let number = |prefix: &str| {
            trigger
                .strip_prefix(prefix)
                .and_then(|n| n.parse::<u32>().ok())
        };
        match message_code {
            "ADT" => number("A").map(|_| Structure::Adt),
            "ORU" if trigger == "R01" => Some(Structure::Oru),
            "ORM" if trigger == "O01" => Some(Structure::Orm),
            "OML" if trigger == "O21" => Some(Structure::Oml),
            "SIU" => number("S")
                .filter(|n| (12..=26).contains(n))
                .map(|_| Structure::Siu),
            "VXU" if trigger == "V04" => Some(Structure::Vxu),
            "MDM" => number("T")
                .filter(|n| (1..=11).contains(n))
                .map(|_| Structure::Mdm),
            _ => None,
        }
    }
}

/// A message's segments in groups. Every segment of the message appears exactly once.
#[derive(Debug, Clone, Default)]
pub struct Grouped<'m> {
    /// MSH, SFT, UAC, EVN, MSA, ERR at the start, and segments before any group.
    pub header: Vec<&'m Segment>,
    /// SIU: the schedule activity (SCH, TQ1, NTE).
    pub schedule: Option<Schedule<'m>>,
    /// The patients: one per PID (ORU PATIENT_RESULT, ADT A40 PATIENT), or one without PID
    /// when orders come before any PID.
    pub patients: Vec<PatientGroup<'m>>,
    /// SIU: the resource groups.
    pub resources: Vec<ResourceGroup<'m>>,
    /// MDM: the document.
    pub document: Option<Document<'m>>,
}

impl<'m> Grouped<'m> {
    /// Every segment held by the groups (for checks that nothing was lost), in no fixed order.
    pub fn all_segments(&self) -> Vec<&'m Segment> {
        let mut out = self.header.clone();
        if let Some(s) = &self.schedule {
            out.push(s.sch);
            out.extend(s.timing.iter().chain(&s.notes).chain(&s.others));
        }
        for p in &self.patients {
            patient_segments(p, &mut out);
        }
        for r in &self.resources {
            out.extend(r.rgs);
            out.extend(&r.others);
            for item in &r.items {
                out.push(item.segment);
                out.extend(&item.notes);
            }
        }
        if let Some(d) = &self.document {
            out.push(d.txa);
            out.extend(&d.others);
            observation_segments(&d.observations, &mut out);
        }
        out
    }
}

fn patient_segments<'m>(p: &PatientGroup<'m>, out: &mut Vec<&'m Segment>) {
    out.extend(
        [p.pid, p.pd1, p.merge, p.visit, p.visit_detail]
            .into_iter()
            .flatten(),
    );
    out.extend(p.notes.iter().chain(&p.others));
    observation_segments(&p.observations, out);
    for o in &p.orders {
        out.extend([o.orc, o.detail].into_iter().flatten());
        out.extend(o.timing.iter().chain(&o.notes).chain(&o.others));
        observation_segments(&o.observations, out);
        for s in &o.specimens {
            out.push(s.spm);
            out.extend(&s.others);
            observation_segments(&s.observations, out);
        }
        for prior in &o.prior_results {
            patient_segments(prior, out);
        }
    }
}

fn observation_segments<'m>(observations: &[Observation<'m>], out: &mut Vec<&'m Segment>) {
    for o in observations {
        out.push(o.obx);
        out.extend(o.notes.iter().chain(&o.others));
    }
}

/// SIU's SCH with its timing and notes.
#[derive(Debug, Clone)]
pub struct Schedule<'m> {
    /// SCH.
    pub sch: &'m Segment,
    /// TQ1, TQ2.
    pub timing: Vec<&'m Segment>,
    /// NTE.
    pub notes: Vec<&'m Segment>,
    /// Anything else in this place.
    pub others: Vec<&'m Segment>,
}

/// A patient with what belongs to it.
#[derive(Debug, Clone, Default)]
pub struct PatientGroup<'m> {
    /// PID (absent when results come without one).
    pub pid: Option<&'m Segment>,
    /// PD1.
    pub pd1: Option<&'m Segment>,
    /// MRG (ADT merges).
    pub merge: Option<&'m Segment>,
    /// PV1.
    pub visit: Option<&'m Segment>,
    /// PV2.
    pub visit_detail: Option<&'m Segment>,
    /// NTE at patient level.
    pub notes: Vec<&'m Segment>,
    /// OBX at patient level (before any order).
    pub observations: Vec<Observation<'m>>,
    /// The orders (ORDER_OBSERVATION, ORDER, vaccination orders, MDM common orders).
    pub orders: Vec<Order<'m>>,
    /// NK1, AL1, DG1, IN1, GT1, PRT, Z-segments, ...
    pub others: Vec<&'m Segment>,
}

/// One order: ORC and its detail segment (OBR, RXA, RXO, ...), with what follows.
#[derive(Debug, Clone, Default)]
pub struct Order<'m> {
    /// ORC (absent in ORU without ORC).
    pub orc: Option<&'m Segment>,
    /// The order detail: OBR, RXA, RXO, RXE, ODS, ODT, RQD.
    pub detail: Option<&'m Segment>,
    /// TQ1, TQ2.
    pub timing: Vec<&'m Segment>,
    /// NTE of the order.
    pub notes: Vec<&'m Segment>,
    /// OBX of the order.
    pub observations: Vec<Observation<'m>>,
    /// SPM groups.
    pub specimens: Vec<Specimen<'m>>,
    /// OML^O21 prior results.
    pub prior_results: Vec<PatientGroup<'m>>,
    /// RXR, CTD, DG1, FT1, BLG, PRT, ...
    pub others: Vec<&'m Segment>,
}

/// An OBX with its notes.
#[derive(Debug, Clone)]
pub struct Observation<'m> {
    /// OBX.
    pub obx: &'m Segment,
    /// NTE after it.
    pub notes: Vec<&'m Segment>,
    /// PRT and others after it.
    pub others: Vec<&'m Segment>,
}

/// SPM with its observations and containers.
#[derive(Debug, Clone)]
pub struct Specimen<'m> {
    /// SPM.
    pub spm: &'m Segment,
    /// OBX after it (including container observations after SAC).
    pub observations: Vec<Observation<'m>>,
    /// SAC, PRT, ...
    pub others: Vec<&'m Segment>,
}

/// SIU's RGS with its services, general resources, locations and personnel.
#[derive(Debug, Clone, Default)]
pub struct ResourceGroup<'m> {
    /// RGS (absent when resources come without one).
    pub rgs: Option<&'m Segment>,
    /// AIS, AIG, AIL, AIP in order, each with its notes.
    pub items: Vec<Resource<'m>>,
    /// Anything else in this place.
    pub others: Vec<&'m Segment>,
}

/// One AIS, AIG, AIL or AIP with its NTE.
#[derive(Debug, Clone)]
pub struct Resource<'m> {
    /// The AIS/AIG/AIL/AIP segment (its id says which).
    pub segment: &'m Segment,
    /// NTE after it.
    pub notes: Vec<&'m Segment>,
}

/// MDM's TXA with its observations (the document's content).
#[derive(Debug, Clone)]
pub struct Document<'m> {
    /// TXA.
    pub txa: &'m Segment,
    /// OBX with their NTE.
    pub observations: Vec<Observation<'m>>,
    /// CON, NTE directly after TXA, ...
    pub others: Vec<&'m Segment>,
}

/// Why a message cannot be grouped for mapping.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The message type or event is not one the mappings support.
    #[error("unsupported message type {message_code}^{trigger}")]
    Unsupported {
        /// MSH-9.1.
        message_code: String,
        /// MSH-9.2.
        trigger: String,
        /// Whether the message code itself is known (then the event is what is unsupported).
        known_code: bool,
    },
    /// A segment the structure requires is missing.
    #[error("{group} has no {segment} segment")]
    MissingSegment {
        /// The missing segment id.
        segment: &'static str,
        /// The group that lacks it, as HL7 names it (e.g. `ORDER_OBSERVATION`).
        group: &'static str,
    },
}

impl GroupError {
    /// The error for the acknowledgement: AR material (200/201) for unsupported types, AE
    /// material (100, segment sequence error) for a missing segment.
    pub fn ack_error(&self) -> AckError {
        match self {
            GroupError::Unsupported { known_code, .. } => {
                let code = if *known_code {
                    Hl7ErrorCode::UnsupportedEventCode
                } else {
                    Hl7ErrorCode::UnsupportedMessageType
                };
                AckError::new(code, self.to_string()).at(ErrorLocation {
                    segment_id: "MSH".to_owned(),
                    sequence: 1,
                    field: Some(9),
                    ..ErrorLocation::default()
                })
            }
            GroupError::MissingSegment { .. } => {
                AckError::new(Hl7ErrorCode::SegmentSequenceError, self.to_string())
            }
        }
    }

    /// Whether this refuses the message (AR) rather than its content (AE).
    pub fn is_reject(&self) -> bool {
        matches!(self, GroupError::Unsupported { .. })
    }
}

/// Groups a message of a supported structure and checks the segments it requires.
pub fn group(message: &Message) -> Result<(Structure, Grouped<'_>), GroupError> {
    let header = message.header();
    let (code, trigger) = (header.message_code(), header.trigger_event());
    let structure = Structure::of(code, trigger).ok_or_else(|| GroupError::Unsupported {
        message_code: code.to_owned(),
        trigger: trigger.to_owned(),
        known_code: ["ADT", "ORU", "ORM", "OML", "SIU", "VXU", "MDM"].contains(&code),
    })?;
    let grouped = walker::walk(message.segments(), structure);
    check_required(structure, trigger, &grouped)?;
    Ok((structure, grouped))
}

fn check_required(structure: Structure, trigger: &str, g: &Grouped<'_>) -> Result<(), GroupError> {
    let missing = |segment, group| Err(GroupError::MissingSegment { segment, group });
    let orders = || g.patients.iter().flat_map(|p| &p.orders);
    let needs_pid = matches!(structure, Structure::Adt | Structure::Vxu | Structure::Mdm);
    if needs_pid && !g.patients.iter().any(|p| p.pid.is_some()) {
        return missing("PID", "PATIENT");
    }
    match structure {
        Structure::Adt
            if ["A39", "A40", "A41", "A42"].contains(&trigger)
                && g.patients.iter().any(|p| p.merge.is_none()) =>
        {
            return missing("MRG", "PATIENT");
        }
        Structure::Oru if orders().next().is_none() || orders().any(|o| o.detail.is_none()) => {
            return missing("OBR", "ORDER_OBSERVATION");
        }
        Structure::Orm | Structure::Oml
            if orders().next().is_none() || orders().any(|o| o.orc.is_none()) =>
        {
            return missing("ORC", "ORDER");
        }
        Structure::Vxu if orders().any(|o| o.detail.is_none()) => return missing("RXA", "ORDER"),
        Structure::Siu if g.schedule.is_none() => return missing("SCH", "SIU"),
        Structure::Mdm if g.document.is_none() => return missing("TXA", "MDM"),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests;
