//! The one walk over the segment list that fills a [`Grouped`].
//!
//! The walker remembers where it is (`Place`) and puts each segment in the innermost group it
//! can belong to. Rules worth knowing:
//!
//! - An order detail (OBR, RXA, ...) completes the current order when that order has none yet,
//!   else it starts a new order without ORC (ORU without ORC, ORC-less VXU).
//! - NTE and PRT attach to what came just before them (observation, order, patient, resource).
//! - After an OBX, a segment that is neither NTE nor PRT closes the observation and goes to the
//!   enclosing group; after SPM only SAC, OBX, NTE and PRT stay in the specimen.
//! - OML^O21: a PID or PV1 once an order exists opens a prior result under that order; the walk
//!   stays there (greedy, as HAPI reads it), so later orders are that prior result's orders.
//! - TXA starts the document only in MDM; elsewhere it is an `other`.

use super::{
    Document, Grouped, Observation, Order, PatientGroup, Resource, ResourceGroup, Schedule,
    Specimen, Structure,
};
use crate::er7::Segment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Header,
    Schedule,
    Patient,
    PatientObservation,
    Order,
    OrderObservation,
    Specimen,
    SpecimenObservation,
    Resource,
    ResourceItem,
    Document,
    DocumentObservation,
}

const ORDER_DETAILS: &[&str] = &["OBR", "RXA", "RXO", "RXE", "ODS", "ODT", "RQD"];
const HEADER: &[&str] = &["MSH", "SFT", "UAC", "EVN", "MSA", "ERR"];

/// Groups the segments as `structure` expects them.
pub(super) fn walk(segments: &[Segment], structure: Structure) -> Grouped<'_> {
    let mut walker = Walker {
        grouped: Grouped::default(),
        place: Place::Header,
        in_prior: false,
        structure,
    };
    for segment in segments {
        walker.push(segment);
    }
    walker.grouped
}

struct Walker<'m> {
    grouped: Grouped<'m>,
    place: Place,
    in_prior: bool,
    structure: Structure,
}

fn last<T: Default>(items: &mut Vec<T>) -> &mut T {
    if items.is_empty() {
        items.push(T::default());
    }
    let i = items.len() - 1;
    &mut items[i]
}

impl<'m> Walker<'m> {
    fn push(&mut self, s: &'m Segment) {
        match s.id.as_str() {
            id if self.place == Place::Header && HEADER.contains(&id) => {
                self.grouped.header.push(s)
            }
            "SCH" if self.grouped.schedule.is_none() => {
                self.grouped.schedule = Some(Schedule {
                    sch: s,
                    timing: Vec::new(),
                    notes: Vec::new(),
                    others: Vec::new(),
                });
                self.place = Place::Schedule;
            }
            "PID" => self.start_patient(s),
            "PD1" | "MRG" | "PV2" => self.patient_field(s),
            "PV1" => self.visit(s),
            "ORC" => {
                self.patient().orders.push(Order {
                    orc: Some(s),
                    ..Order::default()
                });
                self.place = Place::Order;
            }
            id if ORDER_DETAILS.contains(&id) => self.detail(s),
            "TQ1" | "TQ2" => self.timing(s),
            "OBX" => self.observation(s),
            "SPM" => self.specimen(s),
            "NTE" => self.note(s),
            "TXA" if self.structure == Structure::Mdm && self.grouped.document.is_none() => {
                self.grouped.document = Some(Document {
                    txa: s,
                    observations: Vec::new(),
                    others: Vec::new(),
                });
                self.place = Place::Document;
            }
            "RGS" => {
                self.grouped.resources.push(ResourceGroup {
                    rgs: Some(s),
                    ..ResourceGroup::default()
                });
                self.place = Place::Resource;
            }
            "AIS" | "AIG" | "AIL" | "AIP" => {
                let item = Resource {
                    segment: s,
                    notes: Vec::new(),
                };
                last(&mut self.grouped.resources).items.push(item);
                self.place = Place::ResourceItem;
            }
            _ => self.other(s),
        }
    }

    /// The current patient (a prior result's patient while in one), created when missing.
    fn patient(&mut self) -> &mut PatientGroup<'m> {
        let top = last(&mut self.grouped.patients);
        if self.in_prior {
            last(&mut last(&mut top.orders).prior_results)
        } else {
            top
        }
    }

    fn order(&mut self) -> &mut Order<'m> {
        last(&mut self.patient().orders)
    }

    fn opens_prior_result(&self) -> bool {
        self.structure == Structure::Oml
            && (self.in_prior
                || self
                    .grouped
                    .patients
                    .last()
                    .is_some_and(|p| !p.orders.is_empty()))
    }

    fn start_patient(&mut self, s: &'m Segment) {
        if self.opens_prior_result() {
            self.in_prior = false;
            self.order().prior_results.push(PatientGroup {
                pid: Some(s),
                ..PatientGroup::default()
            });
            self.in_prior = true;
        } else {
            self.in_prior = false;
            let reuse = self
                .grouped
                .patients
                .last()
                .is_some_and(|p| p.pid.is_none() && p.orders.is_empty() && p.merge.is_none());
            if reuse {
                self.patient().pid = Some(s);
            } else {
                self.grouped.patients.push(PatientGroup {
                    pid: Some(s),
                    ..PatientGroup::default()
                });
            }
        }
        self.place = Place::Patient;
    }

    fn patient_field(&mut self, s: &'m Segment) {
        let patient = self.patient();
        let slot = match s.id.as_str() {
            "PD1" => &mut patient.pd1,
            "MRG" => &mut patient.merge,
            _ => &mut patient.visit_detail,
        };
        if slot.is_none() {
            *slot = Some(s);
        } else {
            patient.others.push(s);
        }
        self.place = Place::Patient;
    }

    fn visit(&mut self, s: &'m Segment) {
        if self.opens_prior_result() {
            let needs_new = !self.in_prior || self.patient().visit.is_some();
            if needs_new {
                self.in_prior = false;
                self.order().prior_results.push(PatientGroup::default());
                self.in_prior = true;
            }
        }
        let patient = self.patient();
        if patient.visit.is_none() {
            patient.visit = Some(s);
        } else {
            patient.others.push(s);
        }
        self.place = Place::Patient;
    }

    fn detail(&mut self, s: &'m Segment) {
        let orders = &mut self.patient().orders;
        match orders.last_mut() {
            Some(order) if order.detail.is_none() => order.detail = Some(s),
            _ => orders.push(Order {
                detail: Some(s),
                ..Order::default()
            }),
        }
        self.place = Place::Order;
    }

    fn timing(&mut self, s: &'m Segment) {
        match (self.place, &mut self.grouped.schedule) {
            (Place::Schedule, Some(schedule)) => schedule.timing.push(s),
            (Place::Order, _) => self.order().timing.push(s),
            _ => self.other(s),
        }
    }

    fn observation(&mut self, s: &'m Segment) {
        let obx = Observation {
            obx: s,
            notes: Vec::new(),
            others: Vec::new(),
        };
        self.place = match self.place {
            Place::Document | Place::DocumentObservation => match &mut self.grouped.document {
                Some(document) => {
                    document.observations.push(obx);
                    Place::DocumentObservation
                }
                None => return self.other(s),
            },
            Place::Specimen | Place::SpecimenObservation => match self.order().specimens.last_mut()
            {
                Some(specimen) => {
                    specimen.observations.push(obx);
                    Place::SpecimenObservation
                }
                None => return self.other(s),
            },
            Place::Order | Place::OrderObservation => {
                self.order().observations.push(obx);
                Place::OrderObservation
            }
            Place::Header | Place::Patient | Place::PatientObservation => {
                self.patient().observations.push(obx);
                Place::PatientObservation
            }
            Place::Schedule | Place::Resource | Place::ResourceItem => return self.other(s),
        };
    }

    fn specimen(&mut self, s: &'m Segment) {
        if self.patient().orders.is_empty() {
            return self.other(s);
        }
        self.order().specimens.push(Specimen {
            spm: s,
            observations: Vec::new(),
            others: Vec::new(),
        });
        self.place = Place::Specimen;
    }

    fn note(&mut self, s: &'m Segment) {
        match self.place {
            Place::Header => self.grouped.header.push(s),
            Place::Schedule => self.schedule_others(s, true),
            Place::Patient => self.patient().notes.push(s),
            Place::Order => self.order().notes.push(s),
            Place::ResourceItem => match last(&mut self.grouped.resources).items.last_mut() {
                Some(item) => item.notes.push(s),
                None => self.other(s),
            },
            place => match self.last_observation(place) {
                Some(observation) => observation.notes.push(s),
                None => self.other(s),
            },
        }
    }

    fn other(&mut self, s: &'m Segment) {
        let place = self.place;
        if s.id == "PRT"
            && let Some(observation) = self.last_observation(place)
        {
            return observation.others.push(s);
        }
        let keeps_specimen = ["SAC", "PRT", "NTE"].contains(&s.id.as_str());
        match place {
            Place::Header => self.grouped.header.push(s),
            Place::Schedule => self.schedule_others(s, false),
            Place::Patient | Place::PatientObservation => {
                self.patient().others.push(s);
                self.place = Place::Patient;
            }
            Place::Specimen | Place::SpecimenObservation if keeps_specimen => {
                match self.order().specimens.last_mut() {
                    Some(specimen) => specimen.others.push(s),
                    None => self.order().others.push(s),
                }
                self.place = Place::Specimen;
            }
            Place::Order
            | Place::OrderObservation
            | Place::Specimen
            | Place::SpecimenObservation => {
                self.order().others.push(s);
                self.place = Place::Order;
            }
            Place::Resource | Place::ResourceItem => {
                last(&mut self.grouped.resources).others.push(s)
            }
            Place::Document | Place::DocumentObservation => {
                if let Some(document) = &mut self.grouped.document {
                    document.others.push(s);
                }
                self.place = Place::Document;
            }
        }
    }

    fn schedule_others(&mut self, s: &'m Segment, note: bool) {
        match &mut self.grouped.schedule {
            Some(schedule) if note => schedule.notes.push(s),
            Some(schedule) => schedule.others.push(s),
            None => self.grouped.header.push(s),
        }
    }

    /// The observation just read (the place says which list it is in).
    /// The observation just read, when the place is right after one.
    fn last_observation(&mut self, place: Place) -> Option<&mut Observation<'m>> {
        match place {
            Place::PatientObservation => self.patient().observations.last_mut(),
            Place::OrderObservation => self.order().observations.last_mut(),
            Place::SpecimenObservation => {
                self.order().specimens.last_mut()?.observations.last_mut()
            }
            Place::DocumentObservation => self.grouped.document.as_mut()?.observations.last_mut(),
            _ => None,
        }
    }
}
