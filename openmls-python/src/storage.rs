//! Storage for OpenMLS: in memory (default `Provider()`) or SQLite (`Provider(path)`).
//!
//! * [`MemStore`]: values bincode-encoded in a `HashMap`, with an undo journal so that one
//!   binding call is all-or-nothing, like the SQLite transaction (see [`MemStore::begin`]).
//! * SQLite files: bincode values ([`BinCodec`]). Files written before the bincode codec
//!   (JSON values, no format mark) are opened with [`JsonCodec`] and keep that encoding:
//!   keys are encoded by the codec too, so re-encoding values alone would orphan rows.
//! * Both write bincode's format through [`fastenc`] and read it with `bincode`: every read
//!   in the test suites decodes what `fastenc` wrote.
//! * SQLite writes of a group's values (`openmls_group_data`: tree, message secrets, ...)
//!   are the binding's own ([`write_group_data`]: an in-place UPDATE by a cached
//!   statement); every other read and write is `openmls_sqlite_storage`'s. Same rows.
//!
//! Self-contained (no binding types), so that the Rust baseline of
//! benchmarks/binding_overhead compiles this very file to measure the binding's storage.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use openmls_sqlite_storage::{Codec, Connection, SqliteStorageProvider};
use openmls_traits::storage::{traits, StorageProvider, CURRENT_VERSION};
use serde::{de::DeserializeOwned, Serialize};

const V: u16 = CURRENT_VERSION;

/// Compact binary codec: OpenMLS's types are plain serde derives (no `deserialize_any`),
/// which bincode encodes without field names or decimal-spelled bytes.
#[derive(Default)]
pub struct BinCodec;

impl Codec for BinCodec {
    type Error = bincode::Error;

    fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, Self::Error> {
        encode_into(Vec::new(), value)
    }

    fn from_slice<T: DeserializeOwned>(slice: &[u8]) -> Result<T, Self::Error> {
        bincode::deserialize(slice)
    }
}

/// JSON codec: the encoding of SQLite files written before [`BinCodec`].
#[derive(Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    type Error = serde_json::Error;

    fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, Self::Error> {
        serde_json::to_vec(value)
    }

    fn from_slice<T: DeserializeOwned>(slice: &[u8]) -> Result<T, Self::Error> {
        serde_json::from_slice(slice)
    }
}

/// What kind of record a [`MemStore`] entry is (part of its map key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    JoinConfig,
    OwnLeafNodes,
    ProposalRefs,
    Proposal,
    Tree,
    InterimTranscriptHash,
    Context,
    ConfirmationTag,
    GroupState,
    MessageSecrets,
    ResumptionPskStore,
    OwnLeafIndex,
    EpochSecrets,
    SignatureKeyPair,
    EncryptionKeyPair,
    EpochKeyPairs,
    KeyPackage,
    Psk,
}

type MapKey = (Kind, Vec<u8>);

/// OpenMLS state in memory, values bincode-encoded (a value is decoded each time it is
/// read, so callers get owned copies as from any other storage).
///
/// Between [`begin`](Self::begin) and [`commit`](Self::commit) / [`rollback`](Self::rollback)
/// every overwritten or deleted entry's previous value is moved into a journal (first
/// write per key only, no copy), so a rollback restores the state of `begin` exactly.
/// `RefCell`: the store lives in a `Backend`, only ever used under the provider's mutex.
#[derive(Default)]
pub struct MemStore {
    map: RefCell<HashMap<MapKey, Vec<u8>>>,
    journal: RefCell<Option<HashMap<MapKey, Option<Vec<u8>>>>>,
}

type MemResult<T> = Result<T, bincode::Error>;

fn enc<T: Serialize + ?Sized>(v: &T) -> MemResult<Vec<u8>> {
    encode_into(Vec::new(), v)
}

/// Encodes in bincode's format, in one pass, into `buf` (see [`fastenc`]).
fn encode_into<T: Serialize + ?Sized>(mut buf: Vec<u8>, v: &T) -> MemResult<Vec<u8>> {
    v.serialize(&mut fastenc::Enc(&mut buf))?;
    Ok(buf)
}

/// A serde serializer writing exactly bincode 1.3's default format (fixed-width
/// little-endian integers, u64 lengths, u32 variant indices; read back with
/// `bincode::deserialize`), with one shortcut: a `Vec<u8>` / `[u8]` (keys, signatures,
/// credentials), which serde hands over one `u8` at a time, is copied in one go. At 1000
/// members most of an application message's CPU time went into that byte-by-byte loop:
/// every message rewrites the past epochs' member lists.
mod fastenc {
    use serde::ser::{self, Serialize};

    pub struct Enc<'a>(pub &'a mut Vec<u8>);

    type Res = Result<(), bincode::Error>;

    impl Enc<'_> {
        #[inline(always)]
        fn len(&mut self, n: usize) {
            self.0.extend_from_slice(&(n as u64).to_le_bytes());
        }
        #[inline(always)]
        fn variant(&mut self, index: u32) {
            self.0.extend_from_slice(&index.to_le_bytes());
        }
    }

    fn needs_length() -> bincode::Error {
        Box::new(bincode::ErrorKind::SequenceMustHaveLength)
    }

    macro_rules! le {
        ($($f:ident($t:ty)),*) => {$(
            #[inline(always)]
            fn $f(self, v: $t) -> Res {
                self.0.extend_from_slice(&v.to_le_bytes());
                Ok(())
            }
        )*};
    }

    impl<'a, 'b> ser::Serializer for &'a mut Enc<'b> {
        type Ok = ();
        type Error = bincode::Error;
        type SerializeSeq = Self;
        type SerializeTuple = Self;
        type SerializeTupleStruct = Self;
        type SerializeTupleVariant = Self;
        type SerializeMap = Self;
        type SerializeStruct = Self;
        type SerializeStructVariant = Self;

        le!(serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_u128(u128));
        le!(serialize_i16(i16), serialize_i32(i32), serialize_i64(i64), serialize_i128(i128));
        le!(serialize_f32(f32), serialize_f64(f64));

        #[inline(always)]
        fn serialize_u8(self, v: u8) -> Res {
            self.0.push(v);
            Ok(())
        }
        fn serialize_i8(self, v: i8) -> Res {
            self.0.push(v as u8);
            Ok(())
        }
        fn serialize_bool(self, v: bool) -> Res {
            self.0.push(v as u8);
            Ok(())
        }
        fn serialize_char(self, v: char) -> Res {
            let mut buf = [0u8; 4];
            self.0.extend_from_slice(v.encode_utf8(&mut buf).as_bytes());
            Ok(())
        }
        fn serialize_str(self, v: &str) -> Res {
            self.len(v.len());
            self.0.extend_from_slice(v.as_bytes());
            Ok(())
        }
        fn serialize_bytes(self, v: &[u8]) -> Res {
            self.len(v.len());
            self.0.extend_from_slice(v);
            Ok(())
        }
        fn serialize_none(self) -> Res {
            self.0.push(0);
            Ok(())
        }
        fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Res {
            self.0.push(1);
            v.serialize(self)
        }
        fn serialize_unit(self) -> Res {
            Ok(())
        }
        fn serialize_unit_struct(self, _: &'static str) -> Res {
            Ok(())
        }
        fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Res {
            self.variant(index);
            Ok(())
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Res {
            v.serialize(self)
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            index: u32,
            _: &'static str,
            v: &T,
        ) -> Res {
            self.variant(index);
            v.serialize(self)
        }
        fn serialize_seq(self, len: Option<usize>) -> Result<Self, bincode::Error> {
            self.len(len.ok_or_else(needs_length)?);
            Ok(self)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self, bincode::Error> {
            Ok(self)
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, bincode::Error> {
            Ok(self)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            index: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self, bincode::Error> {
            self.variant(index);
            Ok(self)
        }
        fn serialize_map(self, len: Option<usize>) -> Result<Self, bincode::Error> {
            self.len(len.ok_or_else(needs_length)?);
            Ok(self)
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, bincode::Error> {
            Ok(self)
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            index: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self, bincode::Error> {
            self.variant(index);
            Ok(self)
        }
        fn is_human_readable(&self) -> bool {
            false
        }

        fn collect_seq<I>(self, iter: I) -> Res
        where
            I: IntoIterator,
            I::Item: Serialize,
        {
            let iter = iter.into_iter();
            let (low, high) = iter.size_hint();
            // serde serialises a `Vec<u8>` / `[u8]` as a sequence of `&u8` items (a type
            // name is unique for a primitive; any other item takes the generic path).
            if std::any::type_name::<I::Item>() == "&u8" && Some(low) == high {
                self.len(low);
                // SAFETY: the item type is `&u8` (checked above), so reading an item as a
                // `&u8` reads it as the type it is.
                self.0.extend(iter.map(|item| unsafe { **(&item as *const I::Item as *const &u8) }));
                return Ok(());
            }
            let mut seq = ser::Serializer::serialize_seq(&mut *self, high.filter(|h| *h == low))?;
            for item in iter {
                ser::SerializeSeq::serialize_element(&mut seq, &item)?;
            }
            ser::SerializeSeq::end(seq)
        }
    }

    macro_rules! compound {
        ($($tr:ident :: $f:ident),*) => {$(
            impl<'a, 'b> ser::$tr for &'a mut Enc<'b> {
                type Ok = ();
                type Error = bincode::Error;
                #[inline(always)]
                fn $f<T: ?Sized + Serialize>(&mut self, v: &T) -> Res {
                    v.serialize(&mut **self)
                }
                fn end(self) -> Res {
                    Ok(())
                }
            }
        )*};
    }
    compound!(SerializeSeq::serialize_element, SerializeTuple::serialize_element);
    compound!(SerializeTupleStruct::serialize_field, SerializeTupleVariant::serialize_field);

    impl<'a, 'b> ser::SerializeMap for &'a mut Enc<'b> {
        type Ok = ();
        type Error = bincode::Error;
        fn serialize_key<T: ?Sized + Serialize>(&mut self, k: &T) -> Res {
            k.serialize(&mut **self)
        }
        fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Res {
            v.serialize(&mut **self)
        }
        fn end(self) -> Res {
            Ok(())
        }
    }

    impl<'a, 'b> ser::SerializeStruct for &'a mut Enc<'b> {
        type Ok = ();
        type Error = bincode::Error;
        #[inline(always)]
        fn serialize_field<T: ?Sized + Serialize>(&mut self, _: &'static str, v: &T) -> Res {
            v.serialize(&mut **self)
        }
        fn end(self) -> Res {
            Ok(())
        }
    }

    impl<'a, 'b> ser::SerializeStructVariant for &'a mut Enc<'b> {
        type Ok = ();
        type Error = bincode::Error;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, _: &'static str, v: &T) -> Res {
            v.serialize(&mut **self)
        }
        fn end(self) -> Res {
            Ok(())
        }
    }
}

impl MemStore {
    /// Starts recording undo information (one binding call).
    pub fn begin(&self) {
        *self.journal.borrow_mut() = Some(HashMap::new());
    }

    /// Keeps every change since [`begin`](Self::begin).
    pub fn commit(&self) {
        *self.journal.borrow_mut() = None;
    }

    /// Undoes every change since [`begin`](Self::begin).
    pub fn rollback(&self) {
        let Some(journal) = self.journal.borrow_mut().take() else { return };
        let mut map = self.map.borrow_mut();
        for (key, old) in journal {
            match old {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
    }

    /// Sets (`Some`) or deletes (`None`) one entry, journalling the value it replaces.
    fn set(&self, key: MapKey, value: Option<Vec<u8>>) {
        let old = match value {
            Some(v) => self.map.borrow_mut().insert(key.clone(), v),
            None => self.map.borrow_mut().remove(&key),
        };
        if let Some(journal) = self.journal.borrow_mut().as_mut() {
            journal.entry(key).or_insert(old);
        }
    }

    fn put<K: Serialize + ?Sized, T: Serialize + ?Sized>(&self, kind: Kind, key: &K, value: &T) -> MemResult<()> {
        let key = (kind, enc(key)?);
        // The new value is usually about as long as the one it replaces: no regrowth.
        let capacity = self.map.borrow().get(&key).map_or(0, Vec::len);
        let value = encode_into(Vec::with_capacity(capacity), value)?;
        self.set(key, Some(value));
        Ok(())
    }

    fn get<K: Serialize + ?Sized, T: DeserializeOwned>(&self, kind: Kind, key: &K) -> MemResult<Option<T>> {
        let key = (kind, enc(key)?);
        self.map.borrow().get(&key).map(|v| bincode::deserialize(v)).transpose()
    }

    fn del<K: Serialize + ?Sized>(&self, kind: Kind, key: &K) -> MemResult<()> {
        self.set((kind, enc(key)?), None);
        Ok(())
    }

    /// A list entry holds its items each encoded on its own, so removal compares bytes.
    fn raw_list<K: Serialize + ?Sized>(&self, kind: Kind, key: &K) -> MemResult<Vec<Vec<u8>>> {
        Ok(self.get::<K, Vec<Vec<u8>>>(kind, key)?.unwrap_or_default())
    }

    fn list<K: Serialize + ?Sized, T: DeserializeOwned>(&self, kind: Kind, key: &K) -> MemResult<Vec<T>> {
        self.raw_list(kind, key)?.iter().map(|v| bincode::deserialize(v)).collect()
    }

    fn push<K: Serialize + ?Sized, T: Serialize + ?Sized>(&self, kind: Kind, key: &K, item: &T) -> MemResult<()> {
        let mut items = self.raw_list(kind, key)?;
        items.push(enc(item)?);
        self.put(kind, key, &items)
    }

    fn remove_item<K: Serialize + ?Sized, T: Serialize + ?Sized>(
        &self,
        kind: Kind,
        key: &K,
        item: &T,
    ) -> MemResult<()> {
        let item = enc(item)?;
        let mut items = self.raw_list(kind, key)?;
        items.retain(|i| *i != item);
        self.put(kind, key, &items)
    }

    /// Number of entries (for tests of the journal).
    #[allow(dead_code)]
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }
}

impl StorageProvider<V> for MemStore {
    type Error = bincode::Error;

    fn write_mls_join_config<GroupId: traits::GroupId<V>, MlsGroupJoinConfig: traits::MlsGroupJoinConfig<V>>(
        &self,
        group_id: &GroupId,
        config: &MlsGroupJoinConfig,
    ) -> Result<(), Self::Error> {
        self.put(Kind::JoinConfig, group_id, config)
    }

    fn append_own_leaf_node<GroupId: traits::GroupId<V>, LeafNode: traits::LeafNode<V>>(
        &self,
        group_id: &GroupId,
        leaf_node: &LeafNode,
    ) -> Result<(), Self::Error> {
        self.push(Kind::OwnLeafNodes, group_id, leaf_node)
    }

    fn queue_proposal<
        GroupId: traits::GroupId<V>,
        ProposalRef: traits::ProposalRef<V>,
        QueuedProposal: traits::QueuedProposal<V>,
    >(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
        proposal: &QueuedProposal,
    ) -> Result<(), Self::Error> {
        self.put(Kind::Proposal, &(group_id, proposal_ref), proposal)?;
        self.push(Kind::ProposalRefs, group_id, proposal_ref)
    }

    fn write_tree<GroupId: traits::GroupId<V>, TreeSync: traits::TreeSync<V>>(
        &self,
        group_id: &GroupId,
        tree: &TreeSync,
    ) -> Result<(), Self::Error> {
        self.put(Kind::Tree, group_id, tree)
    }

    fn write_interim_transcript_hash<
        GroupId: traits::GroupId<V>,
        InterimTranscriptHash: traits::InterimTranscriptHash<V>,
    >(
        &self,
        group_id: &GroupId,
        interim_transcript_hash: &InterimTranscriptHash,
    ) -> Result<(), Self::Error> {
        self.put(Kind::InterimTranscriptHash, group_id, interim_transcript_hash)
    }

    fn write_context<GroupId: traits::GroupId<V>, GroupContext: traits::GroupContext<V>>(
        &self,
        group_id: &GroupId,
        group_context: &GroupContext,
    ) -> Result<(), Self::Error> {
        self.put(Kind::Context, group_id, group_context)
    }

    fn write_confirmation_tag<GroupId: traits::GroupId<V>, ConfirmationTag: traits::ConfirmationTag<V>>(
        &self,
        group_id: &GroupId,
        confirmation_tag: &ConfirmationTag,
    ) -> Result<(), Self::Error> {
        self.put(Kind::ConfirmationTag, group_id, confirmation_tag)
    }

    fn write_group_state<GroupState: traits::GroupState<V>, GroupId: traits::GroupId<V>>(
        &self,
        group_id: &GroupId,
        group_state: &GroupState,
    ) -> Result<(), Self::Error> {
        self.put(Kind::GroupState, group_id, group_state)
    }

    fn write_message_secrets<GroupId: traits::GroupId<V>, MessageSecrets: traits::MessageSecrets<V>>(
        &self,
        group_id: &GroupId,
        message_secrets: &MessageSecrets,
    ) -> Result<(), Self::Error> {
        self.put(Kind::MessageSecrets, group_id, message_secrets)
    }

    fn write_resumption_psk_store<GroupId: traits::GroupId<V>, ResumptionPskStore: traits::ResumptionPskStore<V>>(
        &self,
        group_id: &GroupId,
        resumption_psk_store: &ResumptionPskStore,
    ) -> Result<(), Self::Error> {
        self.put(Kind::ResumptionPskStore, group_id, resumption_psk_store)
    }

    fn write_own_leaf_index<GroupId: traits::GroupId<V>, LeafNodeIndex: traits::LeafNodeIndex<V>>(
        &self,
        group_id: &GroupId,
        own_leaf_index: &LeafNodeIndex,
    ) -> Result<(), Self::Error> {
        self.put(Kind::OwnLeafIndex, group_id, own_leaf_index)
    }

    fn write_group_epoch_secrets<GroupId: traits::GroupId<V>, GroupEpochSecrets: traits::GroupEpochSecrets<V>>(
        &self,
        group_id: &GroupId,
        group_epoch_secrets: &GroupEpochSecrets,
    ) -> Result<(), Self::Error> {
        self.put(Kind::EpochSecrets, group_id, group_epoch_secrets)
    }

    fn write_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<V>,
        SignatureKeyPair: traits::SignatureKeyPair<V>,
    >(
        &self,
        public_key: &SignaturePublicKey,
        signature_key_pair: &SignatureKeyPair,
    ) -> Result<(), Self::Error> {
        self.put(Kind::SignatureKeyPair, public_key, signature_key_pair)
    }

    fn write_encryption_key_pair<EncryptionKey: traits::EncryptionKey<V>, HpkeKeyPair: traits::HpkeKeyPair<V>>(
        &self,
        public_key: &EncryptionKey,
        key_pair: &HpkeKeyPair,
    ) -> Result<(), Self::Error> {
        self.put(Kind::EncryptionKeyPair, public_key, key_pair)
    }

    fn write_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<V>,
        EpochKey: traits::EpochKey<V>,
        HpkeKeyPair: traits::HpkeKeyPair<V>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
        key_pairs: &[HpkeKeyPair],
    ) -> Result<(), Self::Error> {
        self.put(Kind::EpochKeyPairs, &(group_id, epoch, leaf_index), key_pairs)
    }

    fn write_key_package<HashReference: traits::HashReference<V>, KeyPackage: traits::KeyPackage<V>>(
        &self,
        hash_ref: &HashReference,
        key_package: &KeyPackage,
    ) -> Result<(), Self::Error> {
        self.put(Kind::KeyPackage, hash_ref, key_package)
    }

    fn write_psk<PskId: traits::PskId<V>, PskBundle: traits::PskBundle<V>>(
        &self,
        psk_id: &PskId,
        psk: &PskBundle,
    ) -> Result<(), Self::Error> {
        self.put(Kind::Psk, psk_id, psk)
    }

    fn mls_group_join_config<GroupId: traits::GroupId<V>, MlsGroupJoinConfig: traits::MlsGroupJoinConfig<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<MlsGroupJoinConfig>, Self::Error> {
        self.get(Kind::JoinConfig, group_id)
    }

    fn own_leaf_nodes<GroupId: traits::GroupId<V>, LeafNode: traits::LeafNode<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<LeafNode>, Self::Error> {
        self.list(Kind::OwnLeafNodes, group_id)
    }

    fn queued_proposal_refs<GroupId: traits::GroupId<V>, ProposalRef: traits::ProposalRef<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<ProposalRef>, Self::Error> {
        self.list(Kind::ProposalRefs, group_id)
    }

    fn queued_proposals<
        GroupId: traits::GroupId<V>,
        ProposalRef: traits::ProposalRef<V>,
        QueuedProposal: traits::QueuedProposal<V>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<(ProposalRef, QueuedProposal)>, Self::Error> {
        let refs: Vec<ProposalRef> = self.list(Kind::ProposalRefs, group_id)?;
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            // A listed ref always has its proposal (written together, removed together).
            if let Some(p) = self.get(Kind::Proposal, &(group_id, &r))? {
                out.push((r, p));
            }
        }
        Ok(out)
    }

    fn tree<GroupId: traits::GroupId<V>, TreeSync: traits::TreeSync<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<TreeSync>, Self::Error> {
        self.get(Kind::Tree, group_id)
    }

    fn group_context<GroupId: traits::GroupId<V>, GroupContext: traits::GroupContext<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupContext>, Self::Error> {
        self.get(Kind::Context, group_id)
    }

    fn interim_transcript_hash<GroupId: traits::GroupId<V>, InterimTranscriptHash: traits::InterimTranscriptHash<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<InterimTranscriptHash>, Self::Error> {
        self.get(Kind::InterimTranscriptHash, group_id)
    }

    fn confirmation_tag<GroupId: traits::GroupId<V>, ConfirmationTag: traits::ConfirmationTag<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<ConfirmationTag>, Self::Error> {
        self.get(Kind::ConfirmationTag, group_id)
    }

    fn group_state<GroupState: traits::GroupState<V>, GroupId: traits::GroupId<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupState>, Self::Error> {
        self.get(Kind::GroupState, group_id)
    }

    fn message_secrets<GroupId: traits::GroupId<V>, MessageSecrets: traits::MessageSecrets<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<MessageSecrets>, Self::Error> {
        self.get(Kind::MessageSecrets, group_id)
    }

    fn resumption_psk_store<GroupId: traits::GroupId<V>, ResumptionPskStore: traits::ResumptionPskStore<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<ResumptionPskStore>, Self::Error> {
        self.get(Kind::ResumptionPskStore, group_id)
    }

    fn own_leaf_index<GroupId: traits::GroupId<V>, LeafNodeIndex: traits::LeafNodeIndex<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<LeafNodeIndex>, Self::Error> {
        self.get(Kind::OwnLeafIndex, group_id)
    }

    fn group_epoch_secrets<GroupId: traits::GroupId<V>, GroupEpochSecrets: traits::GroupEpochSecrets<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupEpochSecrets>, Self::Error> {
        self.get(Kind::EpochSecrets, group_id)
    }

    fn signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<V>,
        SignatureKeyPair: traits::SignatureKeyPair<V>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<Option<SignatureKeyPair>, Self::Error> {
        self.get(Kind::SignatureKeyPair, public_key)
    }

    fn encryption_key_pair<HpkeKeyPair: traits::HpkeKeyPair<V>, EncryptionKey: traits::EncryptionKey<V>>(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<Option<HpkeKeyPair>, Self::Error> {
        self.get(Kind::EncryptionKeyPair, public_key)
    }

    fn encryption_epoch_key_pairs<
        GroupId: traits::GroupId<V>,
        EpochKey: traits::EpochKey<V>,
        HpkeKeyPair: traits::HpkeKeyPair<V>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<Vec<HpkeKeyPair>, Self::Error> {
        Ok(self.get(Kind::EpochKeyPairs, &(group_id, epoch, leaf_index))?.unwrap_or_default())
    }

    fn key_package<KeyPackageRef: traits::HashReference<V>, KeyPackage: traits::KeyPackage<V>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<Option<KeyPackage>, Self::Error> {
        self.get(Kind::KeyPackage, hash_ref)
    }

    fn psk<PskBundle: traits::PskBundle<V>, PskId: traits::PskId<V>>(
        &self,
        psk_id: &PskId,
    ) -> Result<Option<PskBundle>, Self::Error> {
        self.get(Kind::Psk, psk_id)
    }

    fn remove_proposal<GroupId: traits::GroupId<V>, ProposalRef: traits::ProposalRef<V>>(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
    ) -> Result<(), Self::Error> {
        self.remove_item(Kind::ProposalRefs, group_id, proposal_ref)?;
        self.del(Kind::Proposal, &(group_id, proposal_ref))
    }

    fn delete_own_leaf_nodes<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        self.del(Kind::OwnLeafNodes, group_id)
    }

    fn delete_group_config<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        self.del(Kind::JoinConfig, group_id)
    }

    fn delete_tree<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        self.del(Kind::Tree, group_id)
    }

    fn delete_confirmation_tag<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        self.del(Kind::ConfirmationTag, group_id)
    }

    fn delete_group_state<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        self.del(Kind::GroupState, group_id)
    }

    fn delete_context<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        self.del(Kind::Context, group_id)
    }

    fn delete_interim_transcript_hash<GroupId: traits::GroupId<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.del(Kind::InterimTranscriptHash, group_id)
    }

    fn delete_message_secrets<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        self.del(Kind::MessageSecrets, group_id)
    }

    fn delete_all_resumption_psk_secrets<GroupId: traits::GroupId<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        self.del(Kind::ResumptionPskStore, group_id)
    }

    fn delete_own_leaf_index<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        self.del(Kind::OwnLeafIndex, group_id)
    }

    fn delete_group_epoch_secrets<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        self.del(Kind::EpochSecrets, group_id)
    }

    fn clear_proposal_queue<GroupId: traits::GroupId<V>, ProposalRef: traits::ProposalRef<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        let refs: Vec<ProposalRef> = self.list(Kind::ProposalRefs, group_id)?;
        for r in refs {
            self.del(Kind::Proposal, &(group_id, &r))?;
        }
        self.del(Kind::ProposalRefs, group_id)
    }

    fn delete_signature_key_pair<SignaturePublicKey: traits::SignaturePublicKey<V>>(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<(), Self::Error> {
        self.del(Kind::SignatureKeyPair, public_key)
    }

    fn delete_encryption_key_pair<EncryptionKey: traits::EncryptionKey<V>>(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<(), Self::Error> {
        self.del(Kind::EncryptionKeyPair, public_key)
    }

    fn delete_encryption_epoch_key_pairs<GroupId: traits::GroupId<V>, EpochKey: traits::EpochKey<V>>(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<(), Self::Error> {
        self.del(Kind::EpochKeyPairs, &(group_id, epoch, leaf_index))
    }

    fn delete_key_package<KeyPackageRef: traits::HashReference<V>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<(), Self::Error> {
        self.del(Kind::KeyPackage, hash_ref)
    }

    fn delete_psk<PskKey: traits::PskId<V>>(&self, psk_id: &PskKey) -> Result<(), Self::Error> {
        self.del(Kind::Psk, psk_id)
    }
}

/// The one SQLite connection, shared by the storage provider and the transaction code.
///
/// `rusqlite::Connection` is `Send` but not `Sync`, so an `Arc` of it is not `Send`.
/// Both clones live only inside one [`Storage`], which the binding only reaches through
/// the `Mutex` in its `Provider`: the connection is never used by two threads at once.
pub struct SharedConn(Arc<Connection>);

// SAFETY: see the type's documentation; every clone of the Arc is owned by the same
// `Storage`, which is accessed only under one mutex.
unsafe impl Send for SharedConn {}

impl Borrow<Connection> for SharedConn {
    fn borrow(&self) -> &Connection {
        &self.0
    }
}

/// New storage files as a copy of an empty one.
///
/// Creating an SQLite file the ordinary way (header through a rollback journal, the WAL
/// switch, `openmls_sqlite_storage`'s migrations: a dozen tables, each migration its own
/// transaction) costs ~4 ms of CPU, five fsyncs and ~480 KiB of WAL, 6-12 ms in all; a
/// scale run opens one new file per member. So the first new file a process creates is
/// made that way and, once complete, its bytes are kept (checkpointed into the file: one
/// file of ~340 KiB, 21 pages); every later new file is that image, written to a
/// temporary name, fsynced, and hard-linked into place (so no opener ever sees a part of
/// it, and a file that appeared meanwhile is never overwritten), then opened as an
/// existing file (~1 ms). The result is the same file: same schema, migrations recorded,
/// page size, WAL mode, format mark. Any failure falls back to the ordinary way.
mod new_file_image {
    use std::fs::{self, File, OpenOptions};
    use std::io::Write;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    use openmls_sqlite_storage::Connection;

    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);

    /// Makes `path` a copy of the image; false if there is no image yet or anything failed
    /// (then nothing is left at `path` by this function).
    pub fn install(path: &Path) -> bool {
        let Some(image) = IMAGE.get() else { return false };
        let Some(name) = path.file_name() else { return false };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_file_name(format!("{}.new-{}-{n}", name.to_string_lossy(), std::process::id()));
        let written = (|| {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(image)?;
            f.sync_all()
        })();
        let linked = written.and_then(|()| fs::hard_link(&tmp, path));
        let _ = fs::remove_file(&tmp);
        if linked.is_err() {
            return false;
        }
        // The new directory entry durable too, as SQLite makes a file it creates.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let _ = File::open(dir).and_then(|d| d.sync_all());
        true
    }

    /// Keeps the bytes of `path`, a storage file just created (tables, format mark) by
    /// `conn` and not written to since, as the image (first one only).
    pub fn keep(conn: &Connection, path: &Path) {
        if IMAGE.get().is_some() || !holds_nothing(conn) {
            return;
        }
        // Every page into the file itself and the WAL emptied: the file alone is complete.
        let busy: Result<i64, _> = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0));
        if busy != Ok(0) {
            return;
        }
        if let Ok(bytes) = fs::read(path) {
            if bytes.starts_with(b"SQLite format 3\0") {
                let _ = IMAGE.set(bytes);
            }
        }
    }

    /// True if no table but the migrations' has a row: had another process created and
    /// used the file between our look at the path and our open, its data must not become
    /// every later file's.
    fn holds_nothing(conn: &Connection) -> bool {
        let tables: Result<Vec<String>, _> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name != 'openmls_sqlite_storage_migrations'",
            )
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect());
        let Ok(tables) = tables else { return false };
        tables.iter().all(|t| {
            let sql = format!("SELECT EXISTS (SELECT 1 FROM \"{}\")", t.replace('"', "\"\""));
            conn.query_row(&sql, [], |r| r.get::<_, bool>(0)) == Ok(false)
        })
    }
}

/// `PRAGMA user_version` of SQLite files whose values are bincode-encoded ([`BinCodec`]).
/// Files from before it have 0 and OpenMLS tables: their values are JSON.
const BINCODE_FORMAT: i64 = 0x6F6D_6C02;

/// The storage behind a `Provider`: one concrete type for the whole binding.
pub enum Storage {
    /// `Provider()`: private, in memory.
    Memory(MemStore),
    /// `Provider(path)`: an SQLite file with bincode values.
    Sqlite(SqliteStorageProvider<BinCodec, SharedConn>, SharedConn),
    /// `Provider(path)` on a file written before the bincode codec (JSON values).
    SqliteJson(SqliteStorageProvider<JsonCodec, SharedConn>, SharedConn),
}

impl Storage {
    /// Memory storage without a path; otherwise opens the SQLite file, creating OpenMLS's
    /// tables if needed, and picks the codec its format mark names.
    pub fn open(path: Option<&str>) -> Result<Self, String> {
        let Some(p) = path else { return Ok(Storage::Memory(MemStore::default())) };
        // A new file (nothing at the path, no WAL left behind): copied from this process's
        // image of an empty storage file if it has one (see `new_file_image`).
        // Not for what SQLite reads as other than a file name (":memory:", "file:" URIs).
        let plain = !p.is_empty() && p != ":memory:" && !p.starts_with("file:");
        let fresh = plain && !Path::new(p).exists() && !Path::new(&format!("{p}-wal")).exists();
        let from_image = fresh && new_file_image::install(Path::new(p));
        let mut conn = Connection::open(p).map_err(|e| format!("cannot open SQLite file {p:?}: {e}"))?;
        // WAL + NORMAL: durable across process crashes, no fsync per transaction.
        // 16 KiB pages (new files only: an existing file keeps its page size, SQLite ignores
        // the pragma there; it must precede the WAL switch, which writes the header): OpenMLS
        // rewrites whole values of hundreds of KiB per message at 1000 members (the message
        // secrets with the past epochs' member lists), and fewer, larger pages cut the
        // per-message cost there by a third to a half (benchmarks/binding_overhead/
        // RESULTS.md); no loss at 100 members.
        // A 512 KiB page cache per connection instead of 2 MiB: a process holds one
        // connection per client, and the hot pages of one write still fit.
        conn.execute_batch(
            "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
             PRAGMA cache_size=-512;",
        )
        .map_err(|e| format!("cannot configure SQLite: {e}"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| format!("cannot configure SQLite: {e}"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| format!("cannot read the format of {p:?}: {e}"))?;
        let has_tables: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name LIKE 'openmls_%')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| format!("cannot read the format of {p:?}: {e}"))?;
        let json = match (version, has_tables) {
            (BINCODE_FORMAT, _) => false,
            (0, true) => true,
            (0, false) => {
                conn.execute_batch(&format!("PRAGMA user_version = {BINCODE_FORMAT}"))
                    .map_err(|e| format!("cannot mark the format of {p:?}: {e}"))?;
                false
            }
            (other, _) => {
                return Err(format!("{p:?} is not an openmls-python storage file (SQLite user_version {other})"))
            }
        };
        SqliteStorageProvider::<BinCodec, &mut Connection>::new(&mut conn)
            .run_migrations()
            .map_err(|e| format!("cannot create the OpenMLS tables: {e}"))?;
        if fresh && !from_image && !json {
            new_file_image::keep(&conn, Path::new(p));
        }
        // Not Send + Sync by itself: see `SharedConn` for why sharing it is sound here.
        #[allow(clippy::arc_with_non_send_sync)]
        let conn = Arc::new(conn);
        let store = SharedConn(conn.clone());
        Ok(if json {
            Storage::SqliteJson(SqliteStorageProvider::new(store), SharedConn(conn))
        } else {
            Storage::Sqlite(SqliteStorageProvider::new(store), SharedConn(conn))
        })
    }

    fn conn(&self) -> Option<&Connection> {
        match self {
            Storage::Memory(_) => None,
            Storage::Sqlite(_, c) | Storage::SqliteJson(_, c) => Some(&c.0),
        }
    }

    /// Starts one all-or-nothing unit of work.
    pub fn begin(&self) -> Result<(), String> {
        match (self, self.conn()) {
            (Storage::Memory(m), _) => {
                m.begin();
                Ok(())
            }
            (_, Some(c)) => c.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string()),
            (_, None) => Ok(()),
        }
    }

    /// Keeps every change since [`begin`](Self::begin).
    pub fn commit(&self) -> Result<(), String> {
        match (self, self.conn()) {
            (Storage::Memory(m), _) => {
                m.commit();
                Ok(())
            }
            (_, Some(c)) => c.execute_batch("COMMIT").map_err(|e| e.to_string()),
            (_, None) => Ok(()),
        }
    }

    /// Undoes every change since [`begin`](Self::begin).
    pub fn rollback(&self) {
        match (self, self.conn()) {
            (Storage::Memory(m), _) => m.rollback(),
            (_, Some(c)) => {
                // Nothing more to do if even that fails: the connection is unusable.
                let _ = c.execute_batch("ROLLBACK");
            }
            (_, None) => {}
        }
    }
}

/// A storage failure from either backend.
#[derive(Debug)]
pub enum StoreError {
    Codec(bincode::Error),
    Sqlite(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Codec(e) => write!(f, "stored value cannot be encoded/decoded: {e}"),
            Self::Sqlite(e) => write!(f, "SQLite: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<bincode::Error> for StoreError {
    fn from(e: bincode::Error) -> Self {
        Self::Codec(e)
    }
}

/// Forwards one `StorageProvider` call to whichever backend this is.
macro_rules! dispatch {
    ($self:ident, $($call:tt)*) => {
        match $self {
            Storage::Memory(s) => s.$($call)*.map_err(StoreError::from),
            Storage::Sqlite(s, _) => s.$($call)*.map_err(|e| StoreError::Sqlite(Box::new(e))),
            Storage::SqliteJson(s, _) => s.$($call)*.map_err(|e| StoreError::Sqlite(Box::new(e))),
        }
    };
}

/// `STORAGE_PROVIDER_VERSION` of `openmls_sqlite_storage` 0.2.0 (pinned exactly in
/// Cargo.toml): the `provider_version` column of the rows [`write_group_data`] writes.
const SQLITE_PROVIDER_VERSION: u16 = 1;

fn sqlite_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Sqlite(Box::new(e))
}

/// Writes one row of `openmls_group_data` (a group's tree, message secrets, context, ...):
/// the row `openmls_sqlite_storage` writes (same table, key and value encodings, version),
/// which reads it back, but written by an `UPDATE` of the existing row (an `INSERT` for a
/// new one) through a cached statement, instead of its `INSERT OR REPLACE` compiled anew.
///
/// Why: REPLACE deletes the row and inserts it again under a new rowid, so every write
/// dirties the table page, the primary-key index page and, for a value with overflow
/// pages, the whole chain, freed and reallocated. An UPDATE of the value alone keeps the
/// rowid and the index entry; and when the value keeps its length (the message secrets
/// from one application message to the next) SQLite overwrites the record in place and
/// dirties only the pages whose bytes changed. Each received message then appends one
/// page to the WAL instead of two (benchmarks/binding_storage/RESULTS.md).
fn write_group_data<C: Codec, K: Serialize, T: Serialize>(
    conn: &Connection,
    group_id: &K,
    data_type: &str,
    value: &T,
) -> Result<(), StoreError> {
    let key = C::to_vec(group_id).map_err(sqlite_error)?;
    let value = C::to_vec(value).map_err(sqlite_error)?;
    let params = (&key, data_type, &value, SQLITE_PROVIDER_VERSION);
    let updated = conn
        .prepare_cached(
            "UPDATE openmls_group_data SET group_data = ?3 \
             WHERE group_id = ?1 AND data_type = ?2 AND provider_version = ?4",
        )
        .and_then(|mut update| update.execute(params))
        .map_err(sqlite_error)?;
    if updated == 0 {
        // A new row (or one of another provider version, which OpenMLS's REPLACE would
        // also have overwritten).
        conn.prepare_cached(
            "INSERT OR REPLACE INTO openmls_group_data (group_id, data_type, group_data, provider_version) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut insert| insert.execute(params))
        .map_err(sqlite_error)?;
    }
    Ok(())
}

/// One `openmls_group_data` write: [`MemStore`] as through its `StorageProvider` impl,
/// SQLite by [`write_group_data`] with the file's codec.
macro_rules! group_data {
    ($self:ident, $kind:ident, $data_type:literal, $group_id:ident, $value:ident) => {
        match $self {
            Storage::Memory(m) => m.put(Kind::$kind, $group_id, $value).map_err(StoreError::from),
            Storage::Sqlite(_, c) => write_group_data::<BinCodec, _, _>(&c.0, $group_id, $data_type, $value),
            Storage::SqliteJson(_, c) => write_group_data::<JsonCodec, _, _>(&c.0, $group_id, $data_type, $value),
        }
    };
}

impl StorageProvider<V> for Storage {
    type Error = StoreError;

    fn write_mls_join_config<GroupId: traits::GroupId<V>, MlsGroupJoinConfig: traits::MlsGroupJoinConfig<V>>(
        &self,
        group_id: &GroupId,
        config: &MlsGroupJoinConfig,
    ) -> Result<(), Self::Error> {
        group_data!(self, JoinConfig, "join_group_config", group_id, config)
    }

    fn append_own_leaf_node<GroupId: traits::GroupId<V>, LeafNode: traits::LeafNode<V>>(
        &self,
        group_id: &GroupId,
        leaf_node: &LeafNode,
    ) -> Result<(), Self::Error> {
        dispatch!(self, append_own_leaf_node::<GroupId, LeafNode>(group_id, leaf_node))
    }

    fn queue_proposal<
        GroupId: traits::GroupId<V>,
        ProposalRef: traits::ProposalRef<V>,
        QueuedProposal: traits::QueuedProposal<V>,
    >(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
        proposal: &QueuedProposal,
    ) -> Result<(), Self::Error> {
        dispatch!(self, queue_proposal::<GroupId, ProposalRef, QueuedProposal>(group_id, proposal_ref, proposal))
    }

    fn write_tree<GroupId: traits::GroupId<V>, TreeSync: traits::TreeSync<V>>(
        &self,
        group_id: &GroupId,
        tree: &TreeSync,
    ) -> Result<(), Self::Error> {
        group_data!(self, Tree, "tree", group_id, tree)
    }

    fn write_interim_transcript_hash<
        GroupId: traits::GroupId<V>,
        InterimTranscriptHash: traits::InterimTranscriptHash<V>,
    >(
        &self,
        group_id: &GroupId,
        interim_transcript_hash: &InterimTranscriptHash,
    ) -> Result<(), Self::Error> {
        group_data!(self, InterimTranscriptHash, "interim_transcript_hash", group_id, interim_transcript_hash)
    }

    fn write_context<GroupId: traits::GroupId<V>, GroupContext: traits::GroupContext<V>>(
        &self,
        group_id: &GroupId,
        group_context: &GroupContext,
    ) -> Result<(), Self::Error> {
        group_data!(self, Context, "context", group_id, group_context)
    }

    fn write_confirmation_tag<GroupId: traits::GroupId<V>, ConfirmationTag: traits::ConfirmationTag<V>>(
        &self,
        group_id: &GroupId,
        confirmation_tag: &ConfirmationTag,
    ) -> Result<(), Self::Error> {
        group_data!(self, ConfirmationTag, "confirmation_tag", group_id, confirmation_tag)
    }

    fn write_group_state<GroupState: traits::GroupState<V>, GroupId: traits::GroupId<V>>(
        &self,
        group_id: &GroupId,
        group_state: &GroupState,
    ) -> Result<(), Self::Error> {
        group_data!(self, GroupState, "group_state", group_id, group_state)
    }

    fn write_message_secrets<GroupId: traits::GroupId<V>, MessageSecrets: traits::MessageSecrets<V>>(
        &self,
        group_id: &GroupId,
        message_secrets: &MessageSecrets,
    ) -> Result<(), Self::Error> {
        group_data!(self, MessageSecrets, "message_secrets", group_id, message_secrets)
    }

    fn write_resumption_psk_store<GroupId: traits::GroupId<V>, ResumptionPskStore: traits::ResumptionPskStore<V>>(
        &self,
        group_id: &GroupId,
        resumption_psk_store: &ResumptionPskStore,
    ) -> Result<(), Self::Error> {
        group_data!(self, ResumptionPskStore, "resumption_psk_store", group_id, resumption_psk_store)
    }

    fn write_own_leaf_index<GroupId: traits::GroupId<V>, LeafNodeIndex: traits::LeafNodeIndex<V>>(
        &self,
        group_id: &GroupId,
        own_leaf_index: &LeafNodeIndex,
    ) -> Result<(), Self::Error> {
        group_data!(self, OwnLeafIndex, "own_leaf_index", group_id, own_leaf_index)
    }

    fn write_group_epoch_secrets<GroupId: traits::GroupId<V>, GroupEpochSecrets: traits::GroupEpochSecrets<V>>(
        &self,
        group_id: &GroupId,
        group_epoch_secrets: &GroupEpochSecrets,
    ) -> Result<(), Self::Error> {
        group_data!(self, EpochSecrets, "group_epoch_secrets", group_id, group_epoch_secrets)
    }

    fn write_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<V>,
        SignatureKeyPair: traits::SignatureKeyPair<V>,
    >(
        &self,
        public_key: &SignaturePublicKey,
        signature_key_pair: &SignatureKeyPair,
    ) -> Result<(), Self::Error> {
        dispatch!(
            self,
            write_signature_key_pair::<SignaturePublicKey, SignatureKeyPair>(public_key, signature_key_pair)
        )
    }

    fn write_encryption_key_pair<EncryptionKey: traits::EncryptionKey<V>, HpkeKeyPair: traits::HpkeKeyPair<V>>(
        &self,
        public_key: &EncryptionKey,
        key_pair: &HpkeKeyPair,
    ) -> Result<(), Self::Error> {
        dispatch!(self, write_encryption_key_pair::<EncryptionKey, HpkeKeyPair>(public_key, key_pair))
    }

    fn write_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<V>,
        EpochKey: traits::EpochKey<V>,
        HpkeKeyPair: traits::HpkeKeyPair<V>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
        key_pairs: &[HpkeKeyPair],
    ) -> Result<(), Self::Error> {
        dispatch!(
            self,
            write_encryption_epoch_key_pairs::<GroupId, EpochKey, HpkeKeyPair>(group_id, epoch, leaf_index, key_pairs)
        )
    }

    fn write_key_package<HashReference: traits::HashReference<V>, KeyPackage: traits::KeyPackage<V>>(
        &self,
        hash_ref: &HashReference,
        key_package: &KeyPackage,
    ) -> Result<(), Self::Error> {
        dispatch!(self, write_key_package::<HashReference, KeyPackage>(hash_ref, key_package))
    }

    fn write_psk<PskId: traits::PskId<V>, PskBundle: traits::PskBundle<V>>(
        &self,
        psk_id: &PskId,
        psk: &PskBundle,
    ) -> Result<(), Self::Error> {
        dispatch!(self, write_psk::<PskId, PskBundle>(psk_id, psk))
    }

    fn mls_group_join_config<GroupId: traits::GroupId<V>, MlsGroupJoinConfig: traits::MlsGroupJoinConfig<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<MlsGroupJoinConfig>, Self::Error> {
        dispatch!(self, mls_group_join_config::<GroupId, MlsGroupJoinConfig>(group_id))
    }

    fn own_leaf_nodes<GroupId: traits::GroupId<V>, LeafNode: traits::LeafNode<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<LeafNode>, Self::Error> {
        dispatch!(self, own_leaf_nodes::<GroupId, LeafNode>(group_id))
    }

    fn queued_proposal_refs<GroupId: traits::GroupId<V>, ProposalRef: traits::ProposalRef<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<ProposalRef>, Self::Error> {
        dispatch!(self, queued_proposal_refs::<GroupId, ProposalRef>(group_id))
    }

    fn queued_proposals<
        GroupId: traits::GroupId<V>,
        ProposalRef: traits::ProposalRef<V>,
        QueuedProposal: traits::QueuedProposal<V>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<(ProposalRef, QueuedProposal)>, Self::Error> {
        dispatch!(self, queued_proposals::<GroupId, ProposalRef, QueuedProposal>(group_id))
    }

    fn tree<GroupId: traits::GroupId<V>, TreeSync: traits::TreeSync<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<TreeSync>, Self::Error> {
        dispatch!(self, tree::<GroupId, TreeSync>(group_id))
    }

    fn group_context<GroupId: traits::GroupId<V>, GroupContext: traits::GroupContext<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupContext>, Self::Error> {
        dispatch!(self, group_context::<GroupId, GroupContext>(group_id))
    }

    fn interim_transcript_hash<GroupId: traits::GroupId<V>, InterimTranscriptHash: traits::InterimTranscriptHash<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<InterimTranscriptHash>, Self::Error> {
        dispatch!(self, interim_transcript_hash::<GroupId, InterimTranscriptHash>(group_id))
    }

    fn confirmation_tag<GroupId: traits::GroupId<V>, ConfirmationTag: traits::ConfirmationTag<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<ConfirmationTag>, Self::Error> {
        dispatch!(self, confirmation_tag::<GroupId, ConfirmationTag>(group_id))
    }

    fn group_state<GroupState: traits::GroupState<V>, GroupId: traits::GroupId<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupState>, Self::Error> {
        dispatch!(self, group_state::<GroupState, GroupId>(group_id))
    }

    fn message_secrets<GroupId: traits::GroupId<V>, MessageSecrets: traits::MessageSecrets<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<MessageSecrets>, Self::Error> {
        dispatch!(self, message_secrets::<GroupId, MessageSecrets>(group_id))
    }

    fn resumption_psk_store<GroupId: traits::GroupId<V>, ResumptionPskStore: traits::ResumptionPskStore<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<ResumptionPskStore>, Self::Error> {
        dispatch!(self, resumption_psk_store::<GroupId, ResumptionPskStore>(group_id))
    }

    fn own_leaf_index<GroupId: traits::GroupId<V>, LeafNodeIndex: traits::LeafNodeIndex<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<LeafNodeIndex>, Self::Error> {
        dispatch!(self, own_leaf_index::<GroupId, LeafNodeIndex>(group_id))
    }

    fn group_epoch_secrets<GroupId: traits::GroupId<V>, GroupEpochSecrets: traits::GroupEpochSecrets<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Option<GroupEpochSecrets>, Self::Error> {
        dispatch!(self, group_epoch_secrets::<GroupId, GroupEpochSecrets>(group_id))
    }

    fn signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<V>,
        SignatureKeyPair: traits::SignatureKeyPair<V>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<Option<SignatureKeyPair>, Self::Error> {
        dispatch!(self, signature_key_pair::<SignaturePublicKey, SignatureKeyPair>(public_key))
    }

    fn encryption_key_pair<HpkeKeyPair: traits::HpkeKeyPair<V>, EncryptionKey: traits::EncryptionKey<V>>(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<Option<HpkeKeyPair>, Self::Error> {
        dispatch!(self, encryption_key_pair::<HpkeKeyPair, EncryptionKey>(public_key))
    }

    fn encryption_epoch_key_pairs<
        GroupId: traits::GroupId<V>,
        EpochKey: traits::EpochKey<V>,
        HpkeKeyPair: traits::HpkeKeyPair<V>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<Vec<HpkeKeyPair>, Self::Error> {
        dispatch!(self, encryption_epoch_key_pairs::<GroupId, EpochKey, HpkeKeyPair>(group_id, epoch, leaf_index))
    }

    fn key_package<KeyPackageRef: traits::HashReference<V>, KeyPackage: traits::KeyPackage<V>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<Option<KeyPackage>, Self::Error> {
        dispatch!(self, key_package::<KeyPackageRef, KeyPackage>(hash_ref))
    }

    fn psk<PskBundle: traits::PskBundle<V>, PskId: traits::PskId<V>>(
        &self,
        psk_id: &PskId,
    ) -> Result<Option<PskBundle>, Self::Error> {
        dispatch!(self, psk::<PskBundle, PskId>(psk_id))
    }

    fn remove_proposal<GroupId: traits::GroupId<V>, ProposalRef: traits::ProposalRef<V>>(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
    ) -> Result<(), Self::Error> {
        dispatch!(self, remove_proposal::<GroupId, ProposalRef>(group_id, proposal_ref))
    }

    fn delete_own_leaf_nodes<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        dispatch!(self, delete_own_leaf_nodes::<GroupId>(group_id))
    }

    fn delete_group_config<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        dispatch!(self, delete_group_config::<GroupId>(group_id))
    }

    fn delete_tree<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        dispatch!(self, delete_tree::<GroupId>(group_id))
    }

    fn delete_confirmation_tag<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        dispatch!(self, delete_confirmation_tag::<GroupId>(group_id))
    }

    fn delete_group_state<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        dispatch!(self, delete_group_state::<GroupId>(group_id))
    }

    fn delete_context<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        dispatch!(self, delete_context::<GroupId>(group_id))
    }

    fn delete_interim_transcript_hash<GroupId: traits::GroupId<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        dispatch!(self, delete_interim_transcript_hash::<GroupId>(group_id))
    }

    fn delete_message_secrets<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        dispatch!(self, delete_message_secrets::<GroupId>(group_id))
    }

    fn delete_all_resumption_psk_secrets<GroupId: traits::GroupId<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        dispatch!(self, delete_all_resumption_psk_secrets::<GroupId>(group_id))
    }

    fn delete_own_leaf_index<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        dispatch!(self, delete_own_leaf_index::<GroupId>(group_id))
    }

    fn delete_group_epoch_secrets<GroupId: traits::GroupId<V>>(&self, group_id: &GroupId) -> Result<(), Self::Error> {
        dispatch!(self, delete_group_epoch_secrets::<GroupId>(group_id))
    }

    fn clear_proposal_queue<GroupId: traits::GroupId<V>, ProposalRef: traits::ProposalRef<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), Self::Error> {
        dispatch!(self, clear_proposal_queue::<GroupId, ProposalRef>(group_id))
    }

    fn delete_signature_key_pair<SignaturePublicKey: traits::SignaturePublicKey<V>>(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<(), Self::Error> {
        dispatch!(self, delete_signature_key_pair::<SignaturePublicKey>(public_key))
    }

    fn delete_encryption_key_pair<EncryptionKey: traits::EncryptionKey<V>>(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<(), Self::Error> {
        dispatch!(self, delete_encryption_key_pair::<EncryptionKey>(public_key))
    }

    fn delete_encryption_epoch_key_pairs<GroupId: traits::GroupId<V>, EpochKey: traits::EpochKey<V>>(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<(), Self::Error> {
        dispatch!(self, delete_encryption_epoch_key_pairs::<GroupId, EpochKey>(group_id, epoch, leaf_index))
    }

    fn delete_key_package<KeyPackageRef: traits::HashReference<V>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<(), Self::Error> {
        dispatch!(self, delete_key_package::<KeyPackageRef>(hash_ref))
    }

    fn delete_psk<PskKey: traits::PskId<V>>(&self, psk_id: &PskKey) -> Result<(), Self::Error> {
        dispatch!(self, delete_psk::<PskKey>(psk_id))
    }
}
