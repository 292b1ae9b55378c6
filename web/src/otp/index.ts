// The sms_otp React package: provider, overlay, route guard, and the pieces under them.
export { OtpProvider, useOtp, type OtpContextValue, type OtpProviderProps } from './OtpProvider.js';
export { OtpOverlay, type OtpOverlayProps } from './OtpOverlay.js';
export { ProtectedRoute, type ProtectedRouteProps } from './ProtectedRoute.js';
export { OtpSettings, type OtpSettingsProps } from './OtpSettings.js';
export {
  composePhone,
  DEFAULT_COUNTRIES,
  initialSettingsState,
  isFresh,
  settingsReducer,
  type Country,
  type SettingsCode,
  type SettingsEvent,
  type SettingsIntent,
  type SettingsNotice,
  type SettingsPhase,
  type SettingsState,
} from './settings.js';
export {
  createOtpApi,
  OtpAbortError,
  type ApiResult,
  type DeliveryStatus,
  type OtpApi,
  type OtpApiOptions,
  type OtpRpcClient,
  type OtpRpcRequest,
  type OtpRpcResponse,
  type DisableBody,
  type SendBody,
  type StatusBody,
  type StatusEnrolmentBody,
  type VerifyBody,
} from './api.js';
export { classifyError, type OtpError, type OtpErrorKind } from './errors.js';
export { describeOtpError, describeUndelivered, type OtpMessage, type Recovery } from './messages.js';
export { initialOtpState, isDeliveryFinal, isOtpSatisfied, isUndeliverable, otpReducer, type OtpEvent, type OtpPhase, type OtpSession, type OtpState } from './machine.js';
export { clockOffset, formatDuration, secondsUntil } from './clock.js';
export { hasWebOtp, receiveSmsCode, useWebOtp } from './webotp.js';
