import requests
import time

API_KEY = "YOUR_API_KEY"
BASE_URL = "https://app.phonos.bio"

# Submit a job
response = requests.post(
    f"{BASE_URL}/v1/predict",
    headers={"Authorization": f"Bearer {API_KEY}"},
    json={
        "model": "esmfold",
        "sequence": "MGSSHHHHHHSSGLVPRGSHMASMTGGQQMGRGS",
        "name": "Test Protein"
    }
)
job = response.json()
job_id = job["job_id"]
print(f"Job submitted: {job_id}")

# Poll for completion
while True:
    status = requests.get(
        f"{BASE_URL}/v1/jobs/{job_id}",
        headers={"Authorization": f"Bearer {API_KEY}"}
    ).json()

    if status["status"] == "completed":
        print("Job completed!")
        break
    elif status["status"] == "failed":
        print(f"Job failed: {status.get('error')}")
        break

    time.sleep(5)

# Download results
result = requests.get(
    f"{BASE_URL}/v1/jobs/{job_id}/download",
    headers={"Authorization": f"Bearer {API_KEY}"}
)

with open("output.pdb", "wb") as f:
    f.write(result.content)

print("Structure saved to output.pdb")
