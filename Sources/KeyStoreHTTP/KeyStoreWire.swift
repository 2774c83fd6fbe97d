import Envelope
import Hashing
import KeyStore
import ObjectModel
import Sovereignty

/// The key-store protocol on the wire: JSON bodies shaped like the AWS KMS External Key Store proxy API
/// (`requestMetadata` on every call, binary values in base64), under `/kms/v1/`.
public enum KeyStoreWire {
    public static let prefix = "/kms/v1/"
    /// Largest request or response body.
    static let bodyBytesMax = 1 << 20

    /// Binary data as a base64 JSON string.
    public typealias Bytes = Base64Bytes

    /// Every request body: the metadata, the tenant, and the operation's inputs.
    struct Request: Codable {
        var requestMetadata: RequestMetadata
        var tenant: String?
        var additionalAuthenticatedData: Bytes?
        var keyVersion: UInt32?
        var ciphertext: Bytes?
        var plaintext: Bytes?
        /// `use-grant`: the grant's id.
        var grantID: String?
        /// `use-grant`: what is counted against the grant's limits.
        var requests: Int64?
        var bytes: Int64?
        /// `decide-read`: the cross-border read to decide.
        var read: CrossBorderRead?
        /// `release-data-key`: the object whose data key is asked for.
        var release: DataKeyRelease?
        /// `administer`: the administrator's signature over the call (whose body travels as `plaintext`).
        var proof: AdministratorProof?
        /// `sign-checkpoint`: the audit log's new tree and its consistency proof.
        var checkpoint: CheckpointRequest?
    }

    /// Answer of generate-data-key, encrypt, decrypt and rewrap.
    struct KeyResponse: Codable {
        var keyVersion: UInt32?
        var ciphertext: Bytes?
        var plaintext: Bytes?
        var createdTenantKey: Bool?
    }

    struct ErrorResponse: Codable {
        var error: KeyStoreError
        var message: String
    }

    struct UnsealRequest: Codable {
        var secret: String
    }
}

