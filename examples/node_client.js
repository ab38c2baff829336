const axios = require('axios');
const fs = require('fs');

const API_KEY = 'YOUR_API_KEY';
const BASE_URL = 'https://app.phonos.bio';

async function runPrediction() {
  // Submit job
  const submitResponse = await axios.post(
    `${BASE_URL}/v1/predict`,
    {
      model: 'esmfold',
      sequence: 'MGSSHHHHHHSSGLVPRGSHMASMTGGQQMGRGS',
      name: 'Test Protein'
    },
    { headers: { Authorization: `Bearer ${API_KEY}` } }
  );

  const jobId = submitResponse.data.job_id;
  console.log(`Job submitted: ${jobId}`);

  // Poll for completion
  while (true) {
    const statusResponse = await axios.get(
      `${BASE_URL}/v1/jobs/${jobId}`,
      { headers: { Authorization: `Bearer ${API_KEY}` } }
    );

    const status = statusResponse.data.status;
    if (status === 'completed') {
      console.log('Job completed!');
      break;
    } else if (status === 'failed') {
      console.log(`Job failed: ${statusResponse.data.error}`);
      return;
    }

    await new Promise(resolve => setTimeout(resolve, 5000));
  }

  // Download results
  const downloadResponse = await axios.get(
    `${BASE_URL}/v1/jobs/${jobId}/download`,
    {
      headers: { Authorization: `Bearer ${API_KEY}` },
      responseType: 'arraybuffer'
    }
  );

  fs.writeFileSync('output.pdb', downloadResponse.data);
  console.log('Structure saved to output.pdb');
}

runPrediction().catch(console.error);
