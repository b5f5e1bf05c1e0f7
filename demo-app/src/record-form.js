// The form that creates a record, or edits one when onEdit() loaded it (the hidden id field says which).
import { $ } from './dom.js';

export function bindRecordForm(records, { onSaved, onError }) {
  const form = $('#record-form');
  const cancel = $('#cancel-edit');
  const reset = () => {
    form.reset();
    form.elements.id.value = '';
    cancel.hidden = true;
    $('#save').textContent = 'Save';
  };
  cancel.onclick = reset;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const f = form.elements;
    const fields = {
      title: f.title.value.trim(),
      notes: f.notes.value,
      status: f.status.value,
      quantity: Math.trunc(Number(f.quantity.value) || 0),
    };
    try {
      if (f.id.value) await records.update(f.id.value, fields);
      else await records.create(fields);
      reset();
      await onSaved();
    } catch (error) {
      onError(error);
    }
  };
  return {
    edit(record) {
      const f = form.elements;
      f.id.value = record.id;
      f.title.value = record.title ?? '';
      f.notes.value = record.notes ?? '';
      f.status.value = record.status ?? 'ok';
      f.quantity.value = record.quantity ?? 0;
      cancel.hidden = false;
      $('#save').textContent = 'Save changes';
      f.title.focus();
    },
  };
}
