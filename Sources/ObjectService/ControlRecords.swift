import Foundation
import Hashing
import ObjectModel

/// A tenant: the unit of isolation. One tenant never sees another's buckets or objects.
public struct TenantRecord: Codable, Sendable, Equatable {
    public var formatVersion = 1
    public var name: String
    public var createdMillis: Int64
}

/// An access key of a tenant. The secret is shown once, at creation; the control plane stores it sealed
/// (``StoredAccessKey``) and holds it in the clear in memory only.
public struct AccessKeyRecord: Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case active, revoked }
    public var accessKeyID: String
    public var secretAccessKey: String
    public var tenant: String
    public var status: Status
    public var createdMillis: Int64
    /// True for the root key, which may also call the admin API.
    public var isRoot: Bool
    /// May bypass GOVERNANCE retention (`x-amz-bypass-governance-retention`): given by an administrator at creation.
    public var mayBypassGovernance = false
}

/// An access key as the control database stores it (format version 2): its secret sealed under the control key
/// (``ControlSecrets``). Version 1 held the secret in the clear; it is read, and rewritten sealed, at start.
struct StoredAccessKey: Codable {
    var formatVersion = 2
    var accessKeyID: String
    var sealedSecret: String?
    /// Version 1 only.
    var secretAccessKey: String?
    var tenant: String
    var status: AccessKeyRecord.Status
    var createdMillis: Int64
    /// Absent in keys stored before object lock: false.
    var mayBypassGovernance: Bool?
}

/// A bucket, owned by one tenant and pinned to one jurisdiction at creation.
public struct BucketRecord: Codable, Sendable, Equatable {
    public var formatVersion = 1
    public var name: String
    public var tenant: String
    public var jurisdiction: Jurisdiction
    public var createdMillis: Int64
    /// S3 versioning: nil until first configured (a bucket never returns to unversioned).
    public var versioning: VersioningState?
    /// S3 Object Lock: set at creation (which enables versioning for good) or on a bucket whose versioning is
    /// Enabled; never removed. With an optional default retention.
    public var objectLock: BucketObjectLock?

    public init(name: String, tenant: String, jurisdiction: Jurisdiction, createdMillis: Int64,
                versioning: VersioningState? = nil, objectLock: BucketObjectLock? = nil) {
        self.name = name
        self.tenant = tenant
        self.jurisdiction = jurisdiction
        self.createdMillis = createdMillis
        self.versioning = versioning
        self.objectLock = objectLock
    }
}

/// A bucket's versioning status, by S3's names.
public enum VersioningState: String, Codable, Sendable {
    case enabled = "Enabled"
    case suspended = "Suspended"
}

/// A bucket's object lock configuration: enabled, and the retention new versions get when their PUT names none.
public struct BucketObjectLock: Codable, Sendable, Equatable {
    public var defaultRetention: DefaultRetention?

    public init(defaultRetention: DefaultRetention? = nil) { self.defaultRetention = defaultRetention }
}

/// A bucket's default retention: a mode (`GOVERNANCE` or `COMPLIANCE`) and a period of days or years.
public struct DefaultRetention: Codable, Sendable, Equatable {
    public var mode: String
    public var days: Int?
    public var years: Int?

    public init(mode: String, days: Int?, years: Int?) {
        self.mode = mode
        self.days = days
        self.years = years
    }

    /// The period in milliseconds (a year counted as 365 days, as S3 does).
    public var periodMillis: Int64 { Int64(days ?? 0) * 86_400_000 + Int64(years ?? 0) * 365 * 86_400_000 }
}

extension Data {
    var bytes: [UInt8] { [UInt8](self) }
}

/// Generation of access key ids and secrets.
public enum Credentials {
    private static let upperAlnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// A 20-character access key id starting with `QK`, like AWS's `AKIA…` ids.
    public static func newAccessKeyID() -> String {
        "QK" + String(decoding: SecureRandom.bytes(18).map { upperAlnum[Int($0 & 31)] }, as: UTF8.self)
    }

    /// A 40-character secret (240 random bits).
    public static func newSecret() -> String {
        String(Base64.encode(SecureRandom.bytes(30)).map { $0 == "+" ? "-" : ($0 == "/" ? "_" : $0) })
    }
}

/// A key rewrap job, persisted under `j/<id>` so it resumes after a crash.
public struct RewrapJob: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case running, done, failed }
    public var formatVersion = 1
    public var id: String
    public var jurisdiction: Jurisdiction
    /// Nil: every tenant of the jurisdiction.
    public var tenant: String?
    public var state: State
    /// Buckets to visit (snapshot at start), the one being visited, and the last key done in it.
    public var buckets: [String]
    public var bucketIndex: Int
    public var after: String?
    /// The last version done of `after` (its versions are visited newest first); nil: every version of it.
    public var afterVersion: String?
    /// Objects counted at start; objects examined and data keys re-wrapped so far.
    public var total: Int
    public var examined: Int
    public var rewrapped: Int
    public var error: String?
    public var createdMillis: Int64
    public var updatedMillis: Int64
}
