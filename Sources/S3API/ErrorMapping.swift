import ObjectModel
import ObjectService
import SigV4

extension S3Error {
    /// Maps an error of any lower layer to its S3 error. The only translation table of the gateway.
    public init(_ error: any Error) {
        switch error {
        case let error as S3Error: self = error
        case let error as ObjectServiceError: self = Self.from(error)
        case let error as SigV4Error: self = Self.from(error)
        case let error as any LayerError:
            self = error.isTransient ? S3Error("ServiceUnavailable", error.description, status: .serviceUnavailable)
                : .internalError(error.description)
        default: self = .internalError()
        }
    }

    private static func from(_ error: ObjectServiceError) -> S3Error {
        switch error {
        case .noSuchBucket(let bucket):
            return S3Error("NoSuchBucket", "The specified bucket does not exist", status: .notFound, resource: bucket)
        case .noSuchKey(let bucket, let key):
            return S3Error("NoSuchKey", "The specified key does not exist.", status: .notFound, resource: "\(bucket)/\(key)")
        case .bucketAlreadyExists(let bucket):
            return S3Error("BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace "
                + "is shared by all users of the system. Please select a different name and try again.",
                status: .conflict, resource: bucket)
        case .bucketAlreadyOwnedByYou(let bucket):
            return S3Error("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded "
                + "and you already own it.", status: .conflict, resource: bucket)
        case .bucketNotEmpty(let bucket):
            return S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", status: .conflict,
                           resource: bucket)
        case .operationAborted(let bucket):
            return S3Error("OperationAborted", "A conflicting conditional operation is currently in progress against "
                + "this resource. Please try again.", status: .conflict, resource: bucket)
        case .invalidBucketName(let bucket, let reason):
            return S3Error("InvalidBucketName", "The specified bucket is not valid: \(reason)", status: .badRequest,
                           resource: bucket)
        case .invalidLocationConstraint(let location):
            return S3Error("InvalidLocationConstraint", "The specified location-constraint \"\(location)\" is not "
                + "a jurisdiction or region of this deployment", status: .badRequest)
        case .keyTooLong(let bytes):
            return S3Error("KeyTooLongError", "Your key is too long: \(bytes) bytes, limit \(Limits.objectKeyBytesMax)",
                           status: .badRequest)
        case .accessDenied(let message): return .accessDenied(message)
        case .serviceUnavailable(let message):
            return S3Error("ServiceUnavailable", message, status: .serviceUnavailable)
        case .entityTooLarge(let size):
            return S3Error("EntityTooLarge", "Your proposed upload (\(size) bytes) exceeds the maximum allowed "
                + "object size for a single PUT.", status: .badRequest)
        case .metadataTooLarge(let size):
            return S3Error("MetadataTooLarge", "Your metadata headers (\(size) bytes) exceed the maximum allowed "
                + "metadata size of \(Limits.userMetadataBytesMax) bytes.", status: .badRequest)
        case .invalidArgument(let message): return .invalidArgument(message)
        case .unknownJurisdiction: return .invalidArgument(ObjectServiceError.describe(error))
        case .invalidRequest(let message): return .invalidRequest(message)
        case .invalidAccessKey(_, let revoked):
            return S3Error("InvalidAccessKeyId", revoked ? "The AWS Access Key Id you provided has been revoked."
                               : "The AWS Access Key Id you provided does not exist in our records.", status: .forbidden)
        case .tenantAlreadyExists(let name): return S3Error("TenantAlreadyExists", "tenant \(name) exists", status: .conflict)
        case .noSuchTenant(let name): return S3Error("NoSuchTenant", "tenant \(name) does not exist", status: .notFound)
        case .noSuchAccessKey(let id):
            return S3Error("NoSuchAccessKey", "access key \(id) does not exist for this tenant", status: .notFound)
        case .preconditionFailed(let condition):
            var error = S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                                status: .preconditionFailed)
            error.details["Condition"] = condition
            return error
        case .invalidTag(let message): return S3Error("InvalidTag", message, status: .badRequest)
        case .conditionalRequestConflict:
            return S3Error("ConditionalRequestConflict", "A conflicting operation occurred. If using PutObject you can "
                + "retry the request. If using multipart upload you should initiate another CreateMultipartUpload "
                + "request and re-upload each part.", status: .conflict)
        case .notModified(let etag, let lastModifiedMillis):
            var error = S3Error("NotModified", "Not Modified", status: .notModified)
            error.headers = ["ETag": "\"\(etag)\"", "Last-Modified": Timestamps.httpDate(lastModifiedMillis / 1000)]
            return error
        case .noSuchUpload(let id):
            return S3Error("NoSuchUpload", "The specified multipart upload does not exist. The upload ID may be "
                + "invalid, or the upload may have been aborted or completed.", status: .notFound, resource: id)
        case .invalidPart(let message):
            return S3Error("InvalidPart", "One or more of the specified parts could not be found: \(message)",
                           status: .badRequest)
        case .invalidPartOrder:
            return S3Error("InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be "
                + "specified in order by part number.", status: .badRequest)
        case .entityTooSmall(let number):
            return S3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size "
                + "(part \(number) is under 5 MiB and is not the last part).", status: .badRequest)
        case .invalidPartNumber(let number):
            // 400, as S3 answers a part number past the object's parts (the S3 conformance suites check it).
            return S3Error("InvalidPartNumber", "The requested partnumber \(number) is not satisfiable",
                           status: .badRequest)
        case .crossJurisdiction(let from, let to):
            return .accessDenied("Copying data of a bucket in jurisdiction \(from) into jurisdiction \(to) would "
                + "carry it across a border; it is refused without a sovereignty grant")
        case .internalError(let message): return .internalError(message)
        case .keyUnavailable(let message):
            return S3Error("KMS.KMSInvalidStateException", message, status: .badRequest)
        case .keyStoreUnavailable(let message):
            return S3Error("ServiceUnavailable", message, status: .serviceUnavailable)
        case .sovereigntyRefused(let bucket, let jurisdiction, let gateway, let reason):
            return S3Error("CrossBorderReadDenied",
                           "Sovereignty rule: data of bucket \(bucket) stays in \(jurisdiction); reading it through a gateway "
                               + "in \(gateway) needs a sovereignty grant from \(jurisdiction) (\(reason))",
                           status: .forbidden)
        case .managedElsewhere(let bucket, let jurisdiction, let gateway):
            return .accessDenied("Sovereignty rule: bucket \(bucket) is managed only through a gateway in its own "
                + "jurisdiction \(jurisdiction), not \(gateway)")
        case .keyReleaseRefused(let reason):
            return S3Error("CrossBorderReadDenied", "Sovereignty rule: the key store refused to release the key "
                + "(\(reason))", status: .forbidden)
        case .integrity(let message):
            return S3Error("InternalError", "stored data failed authentication: \(message)", status: .internalServerError)
        case .noSuchVersion(let bucket, let key, _):
            return S3Error("NoSuchVersion", "The specified version does not exist.", status: .notFound,
                           resource: "\(bucket)/\(key)")
        case .deleteMarker(let bucket, let key, let version, let byVersion):
            var error = byVersion
                ? S3Error("MethodNotAllowed", "The specified method is not allowed against this resource: the version "
                    + "is a delete marker", status: .methodNotAllowed, resource: "\(bucket)/\(key)")
                : S3Error("NoSuchKey", "The specified key does not exist.", status: .notFound, resource: "\(bucket)/\(key)")
            error.headers = ["x-amz-delete-marker": "true", "x-amz-version-id": version]
            return error
        case .invalidBucketState(let message): return S3Error("InvalidBucketState", message, status: .conflict)
        case .objectLocked(let message): return .accessDenied(message)
        case .noObjectLockConfiguration(let message):
            return S3Error("ObjectLockConfigurationNotFoundError", message, status: .notFound)
        case .noObjectRetention:
            return S3Error("NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock "
                + "configuration", status: .notFound)
        case .topologyRefused(let code, let message): return S3Error(code, message, status: .conflict)
        }
    }

    private static func from(_ error: SigV4Error) -> S3Error {
        switch error {
        case .missingAuthentication:
            return .accessDenied("Anonymous access is not allowed: sign requests with AWS Signature Version 4")
        case .malformedAuthorization(let message):
            return S3Error("AuthorizationHeaderMalformed", "The authorization header is malformed; \(message)",
                           status: .badRequest)
        case .malformedQueryAuthorization(let message):
            return S3Error("AuthorizationQueryParametersError", message, status: .badRequest)
        case .malformedCredential(let message):
            return S3Error("AuthorizationHeaderMalformed", "The authorization header is malformed; \(message)",
                           status: .badRequest)
        case .missingOrInvalidDate(let message):
            return .accessDenied("AWS authentication requires a valid Date or x-amz-date header (\(message))")
        case .requestTimeTooSkewed:
            return S3Error("RequestTimeTooSkewed", "The difference between the request time and the server's time "
                + "is too large.", status: .forbidden)
        case .expired: return .accessDenied("Request has expired")
        case .signatureMismatch:
            return S3Error("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                + "signature you provided. Check your key and signing method.", status: .forbidden)
        case .headerNotSigned(let header):
            var error = S3Error.accessDenied("There were headers present in the request which were not signed")
            error.details["HeadersNotSigned"] = header
            return error
        case .invalidContentSHA256:
            return .invalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- mode or a SHA-256 hex digest")
        case .contentSHA256Mismatch:
            return S3Error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match "
                + "what was computed.", status: .badRequest)
        case .malformedChunk(let message):
            return S3Error("IncompleteBody", "The aws-chunked body is malformed: \(message)", status: .badRequest)
        case .chunkSignatureMismatch:
            return S3Error("SignatureDoesNotMatch", "The chunk signature we calculated does not match the chunk "
                + "signature you provided.", status: .forbidden)
        case .incompleteBody:
            return S3Error("IncompleteBody", "The request body ended before its final chunk", status: .badRequest)
        case .payloadLength(let expected, let received):
            return S3Error("IncompleteBody", "You did not provide the number of bytes specified by the "
                + "Content-Length HTTP header (expected \(expected), received \(received))", status: .badRequest)
        case .payloadTooLarge(let size):
            return S3Error("MaxMessageLengthExceeded", "Your request was too big (\(size) bytes or more).",
                           status: .badRequest)
        case .badDigest:
            return S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", status: .badRequest)
        case .checksumMismatch(let algorithm):
            return S3Error("BadDigest", "The \(algorithm) you specified did not match the calculated checksum.",
                           status: .badRequest)
        }
    }
}
