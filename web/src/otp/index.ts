// The sms_otp React package: provider, overlay, route guard, and the pieces under them.
export { OtpProvider, useOtp, type OtpContextValue, type OtpProviderProps } from './OtpProvider';
export { OtpOverlay, type OtpOverlayProps } from './OtpOverlay';
export { ProtectedRoute, type ProtectedRouteProps } from './ProtectedRoute';
export { createOtpApi, type ApiResult, type DeliveryStatus, type OtpApi, type OtpApiOptions, type SendBody, type StatusBody, type VerifyBody } from './api';
export { classifyError, type OtpError, type OtpErrorKind } from './errors';
export { describeOtpError, describeUndelivered, type OtpMessage, type Recovery } from './messages';
export { initialOtpState, isDeliveryFinal, isOtpSatisfied, isUndeliverable, otpReducer, type OtpEvent, type OtpPhase, type OtpSession, type OtpState } from './machine';
export { clockOffset, formatDuration, secondsUntil } from './clock';
export { hasWebOtp, receiveSmsCode, useWebOtp } from './webotp';
