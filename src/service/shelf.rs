//! The shelf: every number on sale, in memory, ordered by number within each
//! country and type, so that `did/available` answers without a database query.
//! The database stays the authority (a purchase is a conditional UPDATE there);
//! the shelf follows it: changes made by this process are applied before the API
//! answers, other processes' changes arrive as announcements within a second.

use super::{Did, DidStatus};
use crate::domain::DidType;
use crate::store::dids::DidRow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// A number on sale.
#[derive(Debug)]
pub struct OnSale {
    pub did: Did,
    /// The presentation layer's rendering of `did`, made once: an entry never
    /// changes while on the shelf (an update replaces it), and rendering the
    /// same page thousands of times a second is most of a search's cost.
    pub rendered: OnceLock<Box<str>>,
}

type Aisle = BTreeMap<Arc<str>, Arc<OnSale>>;
/// (country as its two ASCII letters, type).
type AisleKey = ([u8; 2], DidType);

fn aisle_key(country: &str, did_type: DidType) -> AisleKey {
    let bytes = country.as_bytes();
    (
        [
            bytes.first().copied().unwrap_or(0),
            bytes.get(1).copied().unwrap_or(0),
        ],
        did_type,
    )
}

#[derive(Default)]
struct Shelves {
    /// (country, type) → numbers on sale, in number order.
    aisles: HashMap<AisleKey, Aisle>,
    /// number → its aisle, to move or remove a number.
    placed: HashMap<Arc<str>, AisleKey>,
}

#[derive(Default)]
pub struct Shelf {
    shelves: RwLock<Shelves>,
    /// While a restock reads the database, the numbers updated meanwhile: the
    /// restock's older snapshot must not undo them, so they are re-read after.
    touched_during_restock: Mutex<Option<HashSet<String>>>,
}

/// What to take off the shelf for one page.
pub struct ShelfQuery<'a> {
    pub country: &'a str,
    pub did_type: Option<DidType>,
    /// E.164 prefix, "+331".
    pub prefix: Option<&'a str>,
    pub contains: Option<&'a str>,
    pub after: Option<&'a str>,
    pub limit: usize,
}

impl Shelf {
    pub fn len(&self) -> usize {
        self.shelves.read().map_or(0, |s| s.placed.len())
    }

    /// Call before reading the rows for [`Shelf::restock`].
    pub fn begin_restock(&self) {
        if let Ok(mut touched) = self.touched_during_restock.lock() {
            *touched = Some(HashSet::new());
        }
    }

    pub fn restock_failed(&self) {
        if let Ok(mut touched) = self.touched_during_restock.lock() {
            *touched = None;
        }
    }

    /// Replaces the whole shelf with `rows` (the numbers on sale); returns the
    /// numbers updated since [`Shelf::begin_restock`], which the caller re-reads.
    pub fn restock(&self, dids: Vec<Did>) -> HashSet<String> {
        let mut fresh = Shelves::default();
        for did in dids {
            put(&mut fresh, did);
        }
        if let Ok(mut shelves) = self.shelves.write() {
            *shelves = fresh;
        }
        self.touched_during_restock
            .lock()
            .ok()
            .and_then(|mut t| t.take())
            .unwrap_or_default()
    }

    /// Puts a number on the shelf if it is on sale, takes it off otherwise.
    pub fn update(&self, number: &str, row: Option<DidRow>) -> Result<(), super::Error> {
        let did = row.map(Did::try_from).transpose()?;
        if let Ok(mut touched) = self.touched_during_restock.lock()
            && let Some(set) = touched.as_mut()
        {
            set.insert(number.to_owned());
        }
        let Ok(mut shelves) = self.shelves.write() else {
            return Ok(());
        };
        take(&mut shelves, number);
        if let Some(did) = did.filter(|d| d.status == DidStatus::Available) {
            put(&mut shelves, did);
        }
        Ok(())
    }

    /// One page, in number order.
    pub fn page(&self, query: &ShelfQuery<'_>) -> Vec<Arc<OnSale>> {
        let Ok(shelves) = self.shelves.read() else {
            return Vec::new();
        };
        let types: &[DidType] = match &query.did_type {
            Some(t) => std::slice::from_ref(t),
            None => &DidType::ALL,
        };
        let upper = query.prefix.map(|p| format!("{p}~"));
        if let (Some(upper), Some(after)) = (&upper, query.after)
            && after >= upper.as_str()
        {
            // A cursor past the prefix's last number: nothing follows, and
            // `BTreeMap::range` panics on a range that ends before it starts.
            return Vec::new();
        }
        let lower = match (query.prefix, query.after) {
            (Some(p), Some(a)) if a >= p => Bound::Excluded(a),
            (Some(p), _) => Bound::Included(p),
            (None, Some(a)) => Bound::Excluded(a),
            (None, None) => Bound::Unbounded,
        };
        let upper_bound = match &upper {
            Some(u) => Bound::Excluded(u.as_str()),
            None => Bound::Unbounded,
        };
        let mut page: Vec<Arc<OnSale>> = Vec::with_capacity(query.limit);
        for did_type in types {
            let Some(aisle) = shelves.aisles.get(&aisle_key(query.country, *did_type)) else {
                continue;
            };
            let matching = aisle
                .range::<str, _>((lower, upper_bound))
                .filter(|(number, _)| query.contains.is_none_or(|c| number.contains(c)))
                .take(query.limit)
                .map(|(_, did)| Arc::clone(did));
            page.extend(matching);
        }
        if types.len() > 1 {
            page.sort_by(|a, b| a.did.number.cmp(&b.did.number));
            page.truncate(query.limit);
        }
        page
    }
}

fn put(shelves: &mut Shelves, did: Did) {
    let number: Arc<str> = Arc::from(did.number.as_str());
    let key = aisle_key(&did.country, did.did_type);
    shelves.placed.insert(Arc::clone(&number), key);
    let entry = OnSale {
        did,
        rendered: OnceLock::new(),
    };
    shelves
        .aisles
        .entry(key)
        .or_default()
        .insert(number, Arc::new(entry));
}

fn take(shelves: &mut Shelves, number: &str) {
    if let Some(key) = shelves.placed.remove(number)
        && let Some(aisle) = shelves.aisles.get_mut(&key)
    {
        aisle.remove(number);
        if aisle.is_empty() {
            shelves.aisles.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, number: &str, did_type: &str, status: &str) -> DidRow {
        DidRow {
            id,
            number: number.to_owned(),
            country: "FR".to_owned(),
            did_type: did_type.to_owned(),
            region: None,
            currency: "USD".to_owned(),
            setup_minor: 100,
            monthly_minor: 200,
            status: status.to_owned(),
            account_id: (status == "assigned").then_some(1),
            assigned_at: None,
            paid_through: None,
            aging_until: None,
            forward_type: None,
            forward_destination: None,
            forwards: None,
            max_calls: None,
            updated_at: 0,
        }
    }

    fn dids(rows: Vec<DidRow>) -> Vec<Did> {
        rows.into_iter()
            .map(|r| Did::try_from(r).expect("valid row"))
            .collect()
    }

    fn numbers(page: Vec<Arc<OnSale>>) -> Vec<String> {
        page.iter().map(|d| d.did.number.clone()).collect()
    }

    fn query(limit: usize) -> ShelfQuery<'static> {
        ShelfQuery {
            country: "FR",
            did_type: None,
            prefix: None,
            contains: None,
            after: None,
            limit,
        }
    }

    #[test]
    fn pages_merge_types_in_number_order_and_follow_updates() {
        let shelf = Shelf::default();
        shelf.restock(dids(vec![
            row(1, "+33123456701", "landline", "available"),
            row(2, "+33612345670", "mobile_voice", "available"),
            row(3, "+33123456702", "landline", "available"),
        ]));
        assert_eq!(
            numbers(shelf.page(&query(10))),
            ["+33123456701", "+33123456702", "+33612345670"]
        );
        assert_eq!(
            numbers(shelf.page(&query(2))),
            ["+33123456701", "+33123456702"]
        );

        shelf
            .update(
                "+33123456701",
                Some(row(1, "+33123456701", "landline", "assigned")),
            )
            .expect("update");
        assert_eq!(
            numbers(shelf.page(&query(10))),
            ["+33123456702", "+33612345670"]
        );
        shelf.update("+33612345670", None).expect("update");
        assert_eq!(numbers(shelf.page(&query(10))), ["+33123456702"]);
        assert_eq!(shelf.len(), 1);
    }

    #[test]
    fn prefix_cursor_and_contains_narrow_the_page() {
        let shelf = Shelf::default();
        let rows = (0..30)
            .map(|i| row(i, &format!("+331234567{i:02}"), "landline", "available"))
            .collect();
        shelf.restock(dids(rows));
        let mut q = query(5);
        q.prefix = Some("+3312345671");
        assert_eq!(
            numbers(shelf.page(&q)),
            [
                "+33123456710",
                "+33123456711",
                "+33123456712",
                "+33123456713",
                "+33123456714"
            ]
        );
        q.after = Some("+33123456714");
        assert_eq!(numbers(shelf.page(&q)).len(), 5);
        assert_eq!(numbers(shelf.page(&q))[0], "+33123456715");
        let mut c = query(10);
        c.contains = Some("22");
        assert_eq!(numbers(shelf.page(&c)), ["+33123456722"]);
    }
}
