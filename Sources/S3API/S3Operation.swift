/// Every operation the S3 API knows, decided once from method, path and query. One dispatch `switch` in
/// ``S3Responder`` handles them all.
public enum S3Operation: Equatable, Sendable {
    case listBuckets
    case createBucket
    case headBucket
    case deleteBucket
    case getBucketLocation
    case listObjectsV1
    case listObjectsV2
    case putObject
    case getObject
    case headObject
    case deleteObject
    case deleteObjects
    case copyObject
    case listObjectVersions
    case createMultipartUpload
    case uploadPart
    case uploadPartCopy
    case completeMultipartUpload
    case abortMultipartUpload
    case listParts
    case listMultipartUploads
    case putObjectTagging
    case getObjectTagging
    case deleteObjectTagging
    case getObjectAttributes
    case getBucketVersioning
    case putBucketVersioning
    case getObjectLockConfiguration
    case putObjectLockConfiguration
    case getObjectRetention
    case putObjectRetention
    case getObjectLegalHold
    case putObjectLegalHold
    /// Qantara's own: a signed location attestation of an object (`GET /bucket/key?x-qantara-attestation&nonce=N`).
    case getObjectAttestation
    /// Qantara's own: a signed bucket attestation (`GET /bucket?x-qantara-attestation&nonce=N[&keys=K1,K2]`, keys
    /// base64url).
    case getBucketAttestation
    /// A request S3 defines but Qantara does not implement: answered `NotImplemented`.
    case notImplemented(String)
    /// A method that no S3 operation uses on this resource.
    case methodNotAllowed

    /// The operation's S3 name (the label of its metrics).
    public var name: String {
        switch self {
        case .listBuckets: "ListBuckets"
        case .createBucket: "CreateBucket"
        case .headBucket: "HeadBucket"
        case .deleteBucket: "DeleteBucket"
        case .getBucketLocation: "GetBucketLocation"
        case .listObjectsV1: "ListObjects"
        case .listObjectsV2: "ListObjectsV2"
        case .putObject: "PutObject"
        case .getObject: "GetObject"
        case .headObject: "HeadObject"
        case .deleteObject: "DeleteObject"
        case .deleteObjects: "DeleteObjects"
        case .copyObject: "CopyObject"
        case .listObjectVersions: "ListObjectVersions"
        case .createMultipartUpload: "CreateMultipartUpload"
        case .uploadPart: "UploadPart"
        case .uploadPartCopy: "UploadPartCopy"
        case .completeMultipartUpload: "CompleteMultipartUpload"
        case .abortMultipartUpload: "AbortMultipartUpload"
        case .listParts: "ListParts"
        case .listMultipartUploads: "ListMultipartUploads"
        case .putObjectTagging: "PutObjectTagging"
        case .getObjectTagging: "GetObjectTagging"
        case .deleteObjectTagging: "DeleteObjectTagging"
        case .getObjectAttributes: "GetObjectAttributes"
        case .getBucketVersioning: "GetBucketVersioning"
        case .putBucketVersioning: "PutBucketVersioning"
        case .getObjectLockConfiguration: "GetObjectLockConfiguration"
        case .putObjectLockConfiguration: "PutObjectLockConfiguration"
        case .getObjectRetention: "GetObjectRetention"
        case .putObjectRetention: "PutObjectRetention"
        case .getObjectLegalHold: "GetObjectLegalHold"
        case .putObjectLegalHold: "PutObjectLegalHold"
        case .getObjectAttestation: "GetObjectAttestation"
        case .getBucketAttestation: "GetBucketAttestation"
        case .notImplemented: "NotImplemented"
        case .methodNotAllowed: "MethodNotAllowed"
        }
    }

    /// Sub-resources that select an operation Qantara does not implement.
    static let unsupportedSubresources: Set<String> = [
        "acl", "accelerate", "analytics", "cors", "encryption", "inventory", "intelligent-tiering",
        "lifecycle", "logging", "metrics", "notification", "ownershipControls",
        "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore",
        "select", "tagging", "torrent", "website", "attributes", "session", "renameObject",
    ]

    /// Classifies a request.
    static func classify(method: String, bucket: String?, key: String?, queryNames: Set<String>,
                         hasCopySource: Bool) -> S3Operation {
        if bucket != nil, key?.isEmpty ?? true {
            for (name, get, put) in [("versioning", S3Operation.getBucketVersioning, S3Operation.putBucketVersioning),
                                     ("object-lock", .getObjectLockConfiguration, .putObjectLockConfiguration)]
            where queryNames.contains(name) {
                return method == "GET" ? get : method == "PUT" ? put : .methodNotAllowed
            }
        }
        if let key, !key.isEmpty, bucket != nil {
            for (name, get, put) in [("retention", S3Operation.getObjectRetention, S3Operation.putObjectRetention),
                                     ("legal-hold", .getObjectLegalHold, .putObjectLegalHold)]
            where queryNames.contains(name) {
                return method == "GET" ? get : method == "PUT" ? put : .methodNotAllowed
            }
        }
        // Object tagging and attributes are implemented; the same sub-resources on a bucket are not.
        if let key, !key.isEmpty, bucket != nil {
            if queryNames.contains("tagging") {
                switch method {
                case "PUT": return .putObjectTagging
                case "GET": return .getObjectTagging
                case "DELETE": return .deleteObjectTagging
                default: return .methodNotAllowed
                }
            }
            if queryNames.contains("attributes") { return method == "GET" ? .getObjectAttributes : .methodNotAllowed }
        }
        if let unsupported = queryNames.first(where: unsupportedSubresources.contains) {
            return .notImplemented("The \(unsupported) sub-resource")
        }
        guard let bucket, !bucket.isEmpty else {
            return method == "GET" ? .listBuckets : .methodNotAllowed
        }
        _ = bucket
        guard let key, !key.isEmpty else {
            switch method {
            case "PUT": return .createBucket
            case "HEAD": return .headBucket
            case "DELETE": return .deleteBucket
            case "GET":
                if queryNames.contains("location") { return .getBucketLocation }
                if queryNames.contains("x-qantara-attestation") { return .getBucketAttestation }
                if queryNames.contains("versions") { return .listObjectVersions }
                if queryNames.contains("uploads") { return .listMultipartUploads }
                return queryNames.contains("list-type") ? .listObjectsV2 : .listObjectsV1
            case "POST":
                return queryNames.contains("delete") ? .deleteObjects : .notImplemented("POST on a bucket")
            default: return .methodNotAllowed
            }
        }
        let inUpload = queryNames.contains("uploadId")
        switch method {
        case "PUT":
            if inUpload || queryNames.contains("partNumber") {
                return hasCopySource ? .uploadPartCopy : .uploadPart
            }
            return hasCopySource ? .copyObject : .putObject
        case "GET":
            if queryNames.contains("x-qantara-attestation") { return .getObjectAttestation }
            return inUpload ? .listParts : .getObject
        case "HEAD": return .headObject
        case "DELETE": return inUpload ? .abortMultipartUpload : .deleteObject
        case "POST":
            if queryNames.contains("uploads") { return .createMultipartUpload }
            if inUpload { return .completeMultipartUpload }
            return .notImplemented("POST on an object")
        default: return .methodNotAllowed
        }
    }
}
