// The code field of the overlay and of the settings panel: one box per digit over a single
// input (input-otp), digits only, pasted text stripped to its digits, and the browser's
// one-time-code autofill.
import { forwardRef } from 'react';
import { OTPInput, REGEXP_ONLY_DIGITS, type SlotProps } from 'input-otp';

function Slot({ slot }: { slot: SlotProps }) {
  return (
    <div className={`sms-otp-slot${slot.isActive ? ' is-active' : ''}`} aria-hidden="true">
      {slot.char ?? slot.placeholderChar}
      {slot.hasFakeCaret && <span className="sms-otp-caret" />}
    </div>
  );
}

export interface CodeInputProps {
  id: string;
  value: string;
  length: number;
  disabled: boolean;
  describedBy: string;
  onChange: (value: string) => void;
  onComplete: (value: string) => void;
}

export const CodeInput = forwardRef<HTMLInputElement, CodeInputProps>(function CodeInput(
  { id, value, length, disabled, describedBy, onChange, onComplete },
  ref,
) {
  return (
    <OTPInput
      ref={ref}
      id={id}
      name="one-time-code"
      value={value}
      onChange={onChange}
      onComplete={onComplete}
      maxLength={length}
      pattern={REGEXP_ONLY_DIGITS}
      inputMode="numeric"
      autoComplete="one-time-code"
      pasteTransformer={(pasted) => pasted.replace(/\D/g, '')}
      disabled={disabled}
      aria-describedby={describedBy}
      containerClassName="sms-otp-code"
      render={({ slots }) => (
        <div className="sms-otp-slots" style={{ gridTemplateColumns: `repeat(${length}, 1fr)` }}>
          {slots.map((slot, i) => (
            <Slot key={i} slot={slot} />
          ))}
        </div>
      )}
    />
  );
});
