import ObjectModel

/// What a data key is bound to: its wrapping authenticates these fields, so a wrapped key moved to another object
/// (another jurisdiction, tenant, bucket, key or version) does not open.
public struct ObjectBinding: Sendable, Equatable {
    public var jurisdiction: Jurisdiction
    public var tenant: String
    public var bucket: String
    public var key: String
    /// The version the data key was made for: the object's own version for a single PUT, the upload id for a
    /// multipart object (whose parts were encrypted before the final version existed).
    public var version: VersionID

    public init(jurisdiction: Jurisdiction, tenant: String, bucket: String, key: String, version: VersionID) {
        self.jurisdiction = jurisdiction
        self.tenant = tenant
        self.bucket = bucket
        self.key = key
        self.version = version
    }

    /// Canonical bytes (length-prefixed fields after a label), used as associated data.
    public func encoded(label: String) -> [UInt8] {
        var writer = BinaryWriter(capacity: 96 + key.utf8.count)
        writer.writeString(label)
        writer.writeString(jurisdiction.code)
        writer.writeString(tenant)
        writer.writeString(bucket)
        writer.writeString(key)
        writer.writeRaw(version.bytes)
        return writer.bytes
    }
}

/// The key-store key that wraps an object's bucket key: the tenant key version and the bucket key's wrapped form.
public struct BucketKeyReference: Sendable, Equatable, Hashable {
    /// Version of the tenant key that wraps ``wrappedKey``.
    public var tenantKeyVersion: UInt32
    /// Random identifier of the bucket key (the gateway caches unwrapped bucket keys by it).
    public var id: [UInt8]
    /// The bucket key wrapped by the key store (opaque here).
    public var wrappedKey: [UInt8]
    /// The jurisdiction of the gateway a bucket key was made for, when a gateway of another jurisdiction started a
    /// multipart upload into this one: the key serves that upload only, and the key store hands it back to that
    /// jurisdiction for the upload's parts (see ``BucketKeyContext``). Nil for every other key.
    public var issuedTo: Jurisdiction?

    public static let idSizeBytes = 16

    public init(tenantKeyVersion: UInt32, id: [UInt8], wrappedKey: [UInt8], issuedTo: Jurisdiction? = nil) {
        self.tenantKeyVersion = tenantKeyVersion
        self.id = id
        self.wrappedKey = wrappedKey
        self.issuedTo = issuedTo
    }

    /// The associated data the key store wrapped this bucket key with.
    public func context(bucket: String) -> BucketKeyContext {
        BucketKeyContext(bucket: bucket, id: id, issuedTo: issuedTo)
    }
}

/// The stored header of an encrypted object (kept in its manifest, beside the segments): how to find and check its
/// data key. Layout in `Docs/formats.md`.
public struct EnvelopeHeader: Sendable, Equatable {
    /// Version 1; version 2 adds the jurisdiction a bucket key was issued to (written only when there is one, so
    /// every other header keeps the version 1 layout).
    public static let formatVersion: UInt8 = 1
    public static let issuedKeyFormatVersion: UInt8 = 2
    public static let saltSizeBytes = 32
    public static let commitmentSizeBytes = 32

    public var algorithm: AEADAlgorithm
    /// Plaintext bytes per segment (the last segment of each part may be shorter).
    public var segmentSizeBytes: UInt32
    public var salt: [UInt8]
    public var binding: ObjectBinding
    public var bucketKey: BucketKeyReference
    /// The object's data key, wrapped by the bucket key with the binding as associated data.
    public var wrappedDataKey: [UInt8]
    /// HMAC-SHA256 of ``committedBytes`` under a key derived from the data key: proves which data key the object
    /// was written with.
    public var commitment: [UInt8]

    public init(algorithm: AEADAlgorithm, segmentSizeBytes: UInt32, salt: [UInt8], binding: ObjectBinding,
                bucketKey: BucketKeyReference, wrappedDataKey: [UInt8], commitment: [UInt8]) {
        self.algorithm = algorithm
        self.segmentSizeBytes = segmentSizeBytes
        self.salt = salt
        self.binding = binding
        self.bucketKey = bucketKey
        self.wrappedDataKey = wrappedDataKey
        self.commitment = commitment
    }

    /// The fields the commitment covers: everything but the wrapped keys (which a rewrap may replace).
    public var committedBytes: [UInt8] {
        var writer = BinaryWriter(capacity: 160)
        writer.writeString("qantara/v1/commit")
        writer.write(Self.formatVersion)  // the commitment's own layout version: 1 for every header version
        writer.write(algorithm.rawValue)
        writer.write(segmentSizeBytes)
        writer.writeRaw(salt)
        writer.writeRaw(binding.encoded(label: "binding"))
        return writer.bytes
    }

    /// Binary encoding (format version 1, or 2 for a bucket key issued to another jurisdiction).
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 256)
        writer.write(bucketKey.issuedTo == nil ? Self.formatVersion : Self.issuedKeyFormatVersion)
        writer.write(algorithm.rawValue)
        writer.write(segmentSizeBytes)
        writer.writeRaw(salt)
        writer.writeString(binding.jurisdiction.code)
        writer.writeString(binding.tenant)
        writer.writeRaw(binding.version.bytes)
        writer.write(bucketKey.tenantKeyVersion)
        writer.writeRaw(bucketKey.id)
        if let issuedTo = bucketKey.issuedTo { writer.writeString(issuedTo.code) }
        writer.writeField(bucketKey.wrappedKey)
        writer.writeField(wrappedDataKey)
        writer.writeRaw(commitment)
        return writer.bytes
    }

    /// Decodes a header stored for `bucket`/`key` (which the manifest holds, so they are not repeated here).
    public init(decoding bytes: [UInt8], bucket: String, key: String) throws {
        var reader = BinaryReader(bytes)
        do {
            let version = try reader.readUInt8()
            guard version == Self.formatVersion || version == Self.issuedKeyFormatVersion else {
                throw EnvelopeError.malformed("envelope header version \(version)")
            }
            guard let algorithm = AEADAlgorithm(rawValue: try reader.readUInt8()) else {
                throw EnvelopeError.malformed("unknown envelope algorithm")
            }
            self.algorithm = algorithm
            segmentSizeBytes = try reader.readUInt32()
            guard segmentSizeBytes > 0, segmentSizeBytes <= UInt32(Limits.segmentSizeBytes) else {
                throw EnvelopeError.malformed("segment size \(segmentSizeBytes)")
            }
            salt = Array(try reader.readRaw(Self.saltSizeBytes))
            guard let jurisdiction = Jurisdiction(try reader.readString()) else {
                throw EnvelopeError.malformed("envelope jurisdiction")
            }
            let tenant = try reader.readString()
            guard let bindingVersion = VersionID(bytes: Array(try reader.readRaw(16))) else {
                throw EnvelopeError.malformed("envelope version id")
            }
            binding = ObjectBinding(jurisdiction: jurisdiction, tenant: tenant, bucket: bucket, key: key,
                                    version: bindingVersion)
            let tenantKeyVersion = try reader.readUInt32()
            let id = Array(try reader.readRaw(BucketKeyReference.idSizeBytes))
            var issuedTo: Jurisdiction?
            if version == Self.issuedKeyFormatVersion {
                guard let named = Jurisdiction(try reader.readString()), named != jurisdiction else {
                    throw EnvelopeError.malformed("envelope bucket key issued to an invalid jurisdiction")
                }
                issuedTo = named
            }
            bucketKey = BucketKeyReference(tenantKeyVersion: tenantKeyVersion, id: id, wrappedKey: try reader.readField(),
                                           issuedTo: issuedTo)
            wrappedDataKey = try reader.readField()
            commitment = Array(try reader.readRaw(Self.commitmentSizeBytes))
            guard reader.isAtEnd else { throw EnvelopeError.malformed("trailing bytes after envelope header") }
        } catch let error as FormatError {
            throw EnvelopeError.malformed("envelope header: \(error)")
        }
    }
}

/// The associated data of a bucket key wrapped by the key store: which bucket it serves and, for a key made for a
/// multipart upload started by a gateway of another jurisdiction, that jurisdiction. The key store reads both (they
/// are authenticated by the wrapping): the bucket to check a grant before a cross-border release, the issued-to
/// jurisdiction to hand an upload's key back to the gateways of the jurisdiction that started it.
public struct BucketKeyContext: Sendable, Equatable {
    static let label = "qantara/v1/bucket-key"
    static let issuedLabel = "qantara/v1/bucket-key-issued"
    public var bucket: String
    public var id: [UInt8]
    public var issuedTo: Jurisdiction?

    public init(bucket: String, id: [UInt8], issuedTo: Jurisdiction? = nil) {
        self.bucket = bucket
        self.id = id
        self.issuedTo = issuedTo
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.writeString(issuedTo == nil ? Self.label : Self.issuedLabel)
        writer.writeString(bucket)
        writer.writeRaw(id)
        if let issuedTo { writer.writeString(issuedTo.code) }
        return writer.bytes
    }

    /// Parses ``encoded()``; nil for anything else.
    public init?(decoding bytes: [UInt8]) {
        var reader = BinaryReader(bytes)
        guard let label = try? reader.readString(), label == Self.label || label == Self.issuedLabel,
              let bucket = try? reader.readString(),
              let id = try? reader.readRaw(BucketKeyReference.idSizeBytes) else { return nil }
        var issuedTo: Jurisdiction?
        if label == Self.issuedLabel {
            guard let code = try? reader.readString(), let named = Jurisdiction(code) else { return nil }
            issuedTo = named
        }
        guard reader.isAtEnd else { return nil }
        self.init(bucket: bucket, id: Array(id), issuedTo: issuedTo)
    }
}
