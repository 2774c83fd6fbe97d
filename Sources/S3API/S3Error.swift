import HTTPTypes

/// An S3 error: its AWS code, HTTP status and message. Rendered as S3's XML error document by ``S3Responder``,
/// the one place where errors become HTTP.
public struct S3Error: Error, Sendable, Equatable {
    public var code: String
    public var message: String
    public var status: HTTPResponse.Status
    /// The bucket or object the error concerns.
    public var resource: String?
    /// Extra elements of the error document (name, value), as AWS adds for some codes.
    public var details: [String: String] = [:]
    /// Headers the error response carries (a 304's `ETag` and `Last-Modified`).
    public var headers: [String: String] = [:]

    public init(_ code: String, _ message: String, status: HTTPResponse.Status, resource: String? = nil) {
        self.code = code
        self.message = message
        self.status = status
        self.resource = resource
    }

    public static func accessDenied(_ message: String = "Access Denied") -> S3Error {
        S3Error("AccessDenied", message, status: .forbidden)
    }
    public static func invalidArgument(_ message: String) -> S3Error {
        S3Error("InvalidArgument", message, status: .badRequest)
    }
    public static func invalidRequest(_ message: String) -> S3Error {
        S3Error("InvalidRequest", message, status: .badRequest)
    }
    public static func notImplemented(_ what: String) -> S3Error {
        S3Error("NotImplemented", "\(what) is not implemented by Qantara", status: .notImplemented)
    }
    public static func malformedXML(_ message: String = "The XML you provided was not well-formed or did not validate against our published schema") -> S3Error {
        S3Error("MalformedXML", message, status: .badRequest)
    }
    public static func methodNotAllowed(_ method: String) -> S3Error {
        S3Error("MethodNotAllowed", "The specified method \(method) is not allowed against this resource", status: .methodNotAllowed)
    }
    public static func internalError(_ message: String = "We encountered an internal error. Please try again.") -> S3Error {
        S3Error("InternalError", message, status: .internalServerError)
    }
}
